"""A fake Telegram Bot API on 127.0.0.1, for the real python-telegram-bot Application.

PTB posts form-encoded bodies: every value is a string, nested objects (entities, reply_markup, scope,
commands) arrive as JSON text and integers as digits, while a message's `text` stays a string even when
it looks like a number. `decode_params` undoes that per field; JSON bodies are accepted too. Answers are
`{"ok": true, "result": ...}` or Telegram's error shape, with `parameters.retry_after` on a 429.

`getUpdates` long-polls with the real offset semantics (an offset confirms every earlier update) and
every pending poll is woken when the fake shuts down, so PTB's shutdown never waits out a poll timeout.
Messages the bot sends are kept, with their edits, so a test can read what a chat shows now. Faults are
injected per method (`fail`), and `reject_entities` answers any formatted text with the 400 Telegram
gives for bad formatting.

Updates are built by the factory functions at the bottom (tested in tests/telegram/test_fake.py): PTB
retries a malformed update forever, so tests never write update dictionaries by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles import wait_until
from tests.fakes.server import FakeServer

TOKEN = "123456789:FAKE-telegram-token_for-tests-0123456"  # the shape @BotFather gives
BOT_ID = 123456789  # a bot's id is the number before the colon of its token
BOT_USERNAME = "capbot_test_bot"
GROUP_ID = -1001234567890  # supergroup ids are negative
DATE = 1_790_000_000
LIMIT = 4096  # UTF-16 code units per message text

# Parameters whose form value is JSON text (objects, lists, numbers, booleans); every other one is a string.
JSON_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "show_alert",
        "max_connections",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "reply_to_message_id",
        "disable_web_page_preview",
        "allowed_updates",
        "entities",
        "reply_markup",
        "reply_parameters",
        "link_preview_options",
        "commands",
        "scope",
    }
)


def decode_params(form: dict[str, str]) -> dict[str, Any]:
    """Form values back to what the bot meant: JSON for the fields above, strings for the rest."""
    decoded: dict[str, Any] = {}
    for name, value in form.items():
        if name in JSON_FIELDS:
            try:
                decoded[name] = json.loads(value)
            except ValueError:
                decoded[name] = value  # "@channelusername" as a chat_id
        else:
            decoded[name] = value
    return decoded


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    when: Callable[[Call], bool] | None


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


@dataclass
class FakeTelegram(FakeServer):
    """One fake Bot API. `async with FakeTelegram() as fake:`; TELEGRAM_BASE_URL is `fake.base_url`."""

    token: str = TOKEN
    reject_entities: bool = False  # answer formatted text with 400 "can't parse entities"
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # not yet confirmed by an offset
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # the bot's, by chat/id
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # scope (JSON) → commands
    # (scope (JSON), language_code) → commands: the lists registered for the clients of one language
    localized_commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)  # the last setWebhook parameters
    faults: list[Fault] = field(default_factory=list)
    files: FileStore = field(default_factory=lambda: FileStore())  # getFile and downloads: see below
    drafts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # sendMessageDraft calls by chat
    refuse_drafts: set[int] = field(default_factory=set)  # chats whose drafts are answered 400

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._message_ids = itertools.count(5000)
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._endpoint)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        return app

    async def stopping(self) -> None:
        self._closing = True
        await self._notify()  # wake pending getUpdates so the server can stop at once

    @property
    def base_url(self) -> str:
        """python-telegram-bot's `base_url`: the token and method are appended."""
        return f"{self.root}/bot"

    # ------------------------------------------------------------------ what a test does

    async def push(self, *updates: dict[str, Any]) -> None:
        """Make updates available to getUpdates (in this order)."""
        self.updates.extend(updates)
        await self._notify()

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        when: Callable[[Call], bool] | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (matching `when`) with an error."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request: refused"
            )
        self.faults.append(Fault(method, status, description, retry_after, times, when))

    async def wait_for(
        self, predicate: Callable[[], bool], what: str = "condition", limit: float = 15
    ) -> None:
        """Wait until `predicate()` holds; checked whenever the fake records something."""
        await wait_until(self._changed, predicate, f"fake Telegram never saw: {what}", limit)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, oldest first, as they show now."""
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def shown(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.chat_messages(chat_id)]

    def drafted(self, chat_id: int) -> list[str]:
        """The texts of the drafts the bot streamed in a private chat, in order ("" is "Thinking…")."""
        return [d["text"] for d in self.drafts.get(chat_id, [])]

    # ------------------------------------------------------------------ HTTP

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _endpoint(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = decode_params({k: str(v) for k, v in (await request.post()).items()})
        params.update(decode_params(dict(request.query)))
        call = Call(method, params)
        self.calls.append(call)
        await self._notify()  # a test may wait for a call that then long-polls
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            self._inject(call)
            result = await self._answer(call)
        except ApiError as error:
            body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
            if error.retry_after is not None:
                body["parameters"] = {"retry_after": error.retry_after}
            return web.json_response(body, status=error.status)
        finally:
            await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _inject(self, call: Call) -> None:
        for fault in self.faults:
            if fault.method == call.method and fault.times > 0 and (fault.when is None or fault.when(call)):
                fault.times -= 1
                raise ApiError(fault.status, fault.description, fault.retry_after)

    async def _answer(self, call: Call) -> Any:
        p = call.params
        match call.method:
            case "getMe":
                return bot_user()
            case "getUpdates":
                return await self._get_updates(p)
            case "sendMessage":
                return self._send(p)
            case "editMessageText":
                return self._edit(p)
            case "sendMessageDraft":
                return self._draft(p)
            case "editMessageReplyMarkup":
                found = self._message(p)
                found["reply_markup"] = p.get("reply_markup") or {"inline_keyboard": []}
                return found
            case "setMyCommands":
                scope = json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True)
                if p.get("language_code"):  # a list for the clients in one language
                    self.localized_commands[(scope, p["language_code"])] = p["commands"]
                else:
                    self.commands[scope] = p["commands"]
                return True
            case "deleteMyCommands":
                self.commands.pop(json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True), None)
                return True
            case "setWebhook":
                self.webhook = dict(p)
                return True
            case "deleteWebhook":
                self.webhook = {}
                return True
            case "getWebhookInfo":
                return {
                    "url": self.webhook.get("url", ""),
                    "has_custom_certificate": False,
                    "pending_update_count": 0,
                }
            case "getFile":
                return self.files.get_file(p)
            case "sendChatAction" | "answerCallbackQuery" | "close" | "logOut":
                return True
        raise ApiError(404, "Not Found")

    async def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(p.get("offset") or 0)
        if offset:  # confirms every update before it, for good
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(p.get("limit") or 100)
        timeout = float(p.get("timeout") or 0)
        if not self.updates and timeout > 0 and not self._closing:
            try:
                async with asyncio.timeout(timeout), self._changed:
                    await self._changed.wait_for(lambda: bool(self.updates) or self._closing)
            except TimeoutError:
                pass
        return [] if self._closing else self.updates[:limit]

    def _send(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(p["chat_id"])
        text = self._checked_text(p)
        made = message(bot_user(), chat(chat_id), text, entities=p.get("entities"))
        made["message_id"] = next(self._message_ids)
        if p.get("reply_markup"):
            made["reply_markup"] = p["reply_markup"]
        reply_to = (p.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None:
            made["capbot_reply_to"] = reply_to  # test bookkeeping; stripped from answers
        if p.get("message_thread_id") is not None:
            made["message_thread_id"] = p["message_thread_id"]
        self.messages[(chat_id, made["message_id"])] = made
        made["history"] = [text]
        return _public(made)

    def _draft(self, p: dict[str, Any]) -> bool:
        """A draft is shown, never stored as a message: kept per chat for tests, in the order sent."""
        chat_id = int(p["chat_id"])
        if chat_id in self.refuse_drafts or chat_id < 0:
            raise ApiError(400, "Bad Request: message drafts are unavailable in this chat")
        if not int(p.get("draft_id") or 0):
            raise ApiError(400, "Bad Request: draft_id must be non-zero")
        text = str(p.get("text") or "")
        if text:
            self._checked_text(p)
        self.drafts.setdefault(chat_id, []).append(dict(p, text=text))
        return True

    def _edit(self, p: dict[str, Any]) -> dict[str, Any]:
        found = self._message(p)
        text = self._checked_text(p)
        entities = p.get("entities") or []
        markup = p.get("reply_markup") or {"inline_keyboard": []}
        same_markup = markup == (found.get("reply_markup") or {"inline_keyboard": []})
        if text == found["text"] and entities == found.get("entities", []) and same_markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of the message",
            )
        found["text"] = text
        found["history"].append(text)
        found["edit_date"] = DATE + len(found["history"])
        if entities:
            found["entities"] = entities
        else:
            found.pop("entities", None)
        if p.get("reply_markup"):
            found["reply_markup"] = p["reply_markup"]
        else:
            found.pop("reply_markup", None)
        return _public(found)

    def _message(self, p: dict[str, Any]) -> dict[str, Any]:
        found = self.messages.get((int(p.get("chat_id") or 0), int(p.get("message_id") or 0)))
        if found is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return found

    def _checked_text(self, p: dict[str, Any]) -> str:
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        if p.get("parse_mode"):
            raise ApiError(400, "Bad Request: this fake expects entities, not parse_mode")
        entities = p.get("entities") or []
        if entities and self.reject_entities:
            raise ApiError(400, "Bad Request: can't parse entities: unsupported entity at byte offset 0")
        for entity in entities:
            if (
                entity["offset"] < 0
                or entity["length"] <= 0
                or entity["offset"] + entity["length"] > utf16_len(text)
            ):
                raise ApiError(400, "Bad Request: can't parse entities: entity out of the text")
        return text

    # ------------------------------------------------------------------ files: downloads (getFile above)

    async def _download(self, request: web.Request) -> web.Response:
        """GET /file/bot<token>/<path>: the bytes, as Telegram serves a file getFile named."""
        try:
            if request.match_info["token"] != self.token:
                return web.Response(status=401, text="Unauthorized")
            return self.files.download(request.match_info["path"])
        finally:
            await self._notify()


def _public(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in ("history", "capbot_reply_to")}


# ---------------------------------------------------------------------- update factories

_update_ids = itertools.count(10_000)
_incoming_ids = itertools.count(100)


def bot_user() -> dict[str, Any]:
    return {
        "id": BOT_ID,
        "is_bot": True,
        "first_name": "capbot",
        "username": BOT_USERNAME,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def user(
    user_id: int, first_name: str, username: str | None = None, *, language_code: str | None = None
) -> dict[str, Any]:
    made: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        made["username"] = username
    if language_code:  # the client's language, as Telegram reports it (IETF tag, e.g. "zh-hans", "es")
        made["language_code"] = language_code
    return made


def chat(chat_id: int, title: str = "Test group") -> dict[str, Any]:
    """A private chat for a positive id (a person's chat with the bot), a supergroup for a negative one."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "someone"}
    return {"id": chat_id, "type": "supergroup", "title": title}


def message(
    sender: dict[str, Any],
    in_chat: dict[str, Any],
    text: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    made: dict[str, Any] = {
        "message_id": next(_incoming_ids),
        "from": sender,
        "chat": in_chat,
        "date": DATE,
        "text": text,
    }
    if entities:
        made["entities"] = entities
    if reply_to is not None:
        made["reply_to_message"] = _public(reply_to)
    return made


def command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity Telegram adds when a text starts with /command."""
    if not text.startswith("/"):
        return []
    head = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(head)}]


def update(**payload: Any) -> dict[str, Any]:
    return {"update_id": next(_update_ids), **payload}


def private_text(sender: dict[str, Any], text: str) -> dict[str, Any]:
    """A person writes to the bot in their private chat."""
    return update(message=message(sender, chat(sender["id"]), text, entities=command_entities(text)))


def group_text(
    sender: dict[str, Any],
    text: str,
    *,
    chat_id: int = GROUP_ID,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message in a group; `@capbot_test_bot` in the text becomes a mention entity, as Telegram does."""
    entities = command_entities(text)
    handle = "@" + BOT_USERNAME
    at = text.find(handle)
    if at >= 0:
        entities.append({"type": "mention", "offset": utf16_len(text[:at]), "length": utf16_len(handle)})
    made = message(sender, chat(chat_id), text, entities=entities or None, reply_to=reply_to)
    return update(message=made)


def callback(sender: dict[str, Any], on_message: dict[str, Any], data: str) -> dict[str, Any]:
    """A tap on an inline keyboard button of one of the bot's messages."""
    return update(
        callback_query={
            "id": str(next(_update_ids)),
            "from": sender,
            "message": _public(on_message),
            "chat_instance": "chat-instance-1",
            "data": data,
        }
    )


def generation_stopped(chat_id: int, draft_id: int) -> dict[str, Any]:
    """Telegram's stop button on a draft was pressed (Bot API 10.3's `stopped_message_generation`)."""
    private = {"id": chat_id, "type": "private", "first_name": "Someone"}
    return update(stopped_message_generation={"chat": private, "draft_id": draft_id})


def buttons(made: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline keyboard buttons of a bot message, row by row flattened."""
    rows = (made.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


# ---------------------------------------------------------------------- files: what getFile serves

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files (bots may download 20 MB)


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    path: str  # what getFile answers; the download is at /file/bot<token>/<path>
    data: bytes
    size: int  # as Telegram declares it (a test may declare more than the bytes: a file over a limit)


@dataclass
class FileStore:
    """The files a bot may fetch with getFile. `downloads` lists the file ids downloaded, in order (a file
    refused before its download is never there); `fail_download` makes the next downloads of one fail."""

    stored: dict[str, StoredFile] = field(default_factory=dict)
    downloads: list[str] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # file id → downloads still to fail (with 500)

    def add(
        self, data: bytes, *, folder: str = "photos", suffix: str = "jpg", size: int | None = None
    ) -> StoredFile:
        number = len(self.stored)
        made = StoredFile(
            file_id=f"file-{number}-AgACAgIAAxkBAAI",
            file_unique_id=f"unique-{number}",
            path=f"{folder}/file_{number}.{suffix}",
            data=data,
            size=len(data) if size is None else size,
        )
        self.stored[made.file_id] = made
        return made

    def fail_download(self, stored: StoredFile, times: int = 1) -> None:
        self.failing[stored.file_id] = times

    def get_file(self, p: dict[str, Any]) -> dict[str, Any]:
        found = self.stored.get(str(p.get("file_id")))
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if found.size > TELEGRAM_DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": found.file_id,
            "file_unique_id": found.file_unique_id,
            "file_size": found.size,
            "file_path": found.path,
        }

    def download(self, path: str) -> web.Response:
        found = next((f for f in self.stored.values() if f.path == path), None)
        if found is None:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(found.file_id)
        if self.failing.get(found.file_id, 0) > 0:
            self.failing[found.file_id] -= 1
            return web.Response(status=500, text="Internal Server Error")
        return web.Response(body=found.data, content_type="application/octet-stream")


def file_fields(stored: StoredFile) -> dict[str, Any]:
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size}


def photo(*sizes: tuple[StoredFile, int, int]) -> list[dict[str, Any]]:
    """A message's `photo`: one PhotoSize per (file, width, height), smallest first as Telegram sends."""
    return [file_fields(stored) | {"width": width, "height": height} for stored, width, height in sizes]


def document(stored: StoredFile, mime: str, name: str) -> dict[str, Any]:
    return file_fields(stored) | {"mime_type": mime, "file_name": name}


def voice(stored: StoredFile, duration: int, mime: str = "audio/ogg") -> dict[str, Any]:
    return file_fields(stored) | {"duration": duration, "mime_type": mime}


def audio(
    stored: StoredFile, duration: int, mime: str = "audio/mpeg", name: str = "song.mp3"
) -> dict[str, Any]:
    return file_fields(stored) | {"duration": duration, "mime_type": mime, "file_name": name}


def private_media(sender: dict[str, Any], caption: str = "", **media: Any) -> dict[str, Any]:
    """A person sends the bot a file in their private chat: `photo=photo(...)`, `document=`, `voice=`,
    `audio=`, with an optional caption."""
    return update(message=_with_media(message(sender, chat(sender["id"]), caption), caption, [], media))


def group_media(
    sender: dict[str, Any],
    caption: str = "",
    *,
    chat_id: int = GROUP_ID,
    reply_to: dict[str, Any] | None = None,
    **media: Any,
) -> dict[str, Any]:
    """A file sent in a group; `@capbot_test_bot` in the caption becomes a mention entity."""
    entities = command_entities(caption)
    handle = "@" + BOT_USERNAME
    at = caption.find(handle)
    if at >= 0:
        entities.append({"type": "mention", "offset": utf16_len(caption[:at]), "length": utf16_len(handle)})
    made = message(sender, chat(chat_id), caption, reply_to=reply_to)
    return update(message=_with_media(made, caption, entities, media))


def _with_media(
    made: dict[str, Any], caption: str, entities: list[dict[str, Any]], media: dict[str, Any]
) -> dict[str, Any]:
    """A text message turned into one with a file: the text becomes its caption (none when empty)."""
    del made["text"]
    if caption:
        made["caption"] = caption
    if entities:
        made["caption_entities"] = entities
    return made | media
