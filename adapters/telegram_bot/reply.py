"""Answering in one Telegram chat: formatting, splitting, flood control and the typing indicator.

Streamed answers go through the shared `StreamingAnswer` loop with Telegram's limit (4,096 UTF-16 code
units). The loop splits the model's Markdown first; each chunk is then converted on its own to plain text
plus a `MessageEntity` list (telegramify-markdown), so no chunk can exceed the limit through conversion
and no entity can straddle two messages. Sending with `entities=` needs no escaping at all; if Telegram
still refuses the formatting, the same chunk goes out as plain text: an answer is never lost to Markdown.

In a private chat progress is a draft (`sendMessageDraft`, one `draft_id` per answer, an empty one
showing Telegram's "Thinking…" while the model is silent) and the answer is persisted by one
`sendMessage`; Telegram's own stop button sits on the draft (`can_stop`), and pressing it arrives as a
`stopped_message_generation` update. A chat that refuses drafts (400) is sent and edited instead, and
remembered for the life of the process. Groups and topics are sent and edited, with a Stop button on the
progress message that only the asker (or an owner) can use; the final text carries no button.

Every call says how urgent it is (`rate_limit_args={"priority": ...}`, see `outgoing`): final texts,
then first texts, then progress (edits, drafts), then typing. A call the scheduler drops (`Dropped`)
was only progress or typing: skipped, never a failure.

Telegram's 429 (`RetryAfter`) becomes `FloodWait`, so the streaming loop skips progress edits while
flood control lasts and waits it out only for the final text. Plain lines (refusals, /spend, menus) are
retried by the rate limiter instead (`rate_limit_args`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import telegramify_markdown
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, RetryAfter
from telegram.ext import ExtBot
from telegram.warnings import PTBDeprecationWarning

from adapters.streaming import DraftsRefused, FloodWait, Skipped, StreamingAnswer, split_text
from adapters.telegram_bot.outgoing import Dropped, OutgoingScheduler, Priority
from bot.i18n import N_, _
from bot.incoming import Menu

log = logging.getLogger(__name__)

LIMIT = 4096  # Telegram's message limit, in UTF-16 code units
PLAIN_RETRIES = 3  # retries after a 429 for lines that are not part of a streamed answer
TYPING_EVERY = 4.5  # seconds; Telegram shows "typing…" for five seconds per action
TYPING_AFTER = 1.0  # seconds; an answer whose first text comes sooner needs no "typing…"
THINKING_EVERY = 25.0  # seconds; a draft shows for 30
STOP_LABEL = N_("Stop")
STOP_PREFIX = "stop:"  # callback data of a Stop button: the prefix, then the core's id for the answer

Bot = ExtBot[Any]
T = TypeVar("T")


def utf16_units(text: str) -> int:
    """Telegram measures text and entity offsets in UTF-16 code units (an emoji is often two)."""
    return len(text.encode("utf-16-le")) // 2


def render(markdown: str) -> tuple[str, list[MessageEntity]]:
    """One chunk of Markdown as (text, entities); the chunk itself, unformatted, when that is not possible."""
    try:
        converted: tuple[str, list[Any]] = telegramify_markdown.convert(markdown)
    except Exception:  # a converter bug must not cost the answer
        log.warning("telegram: Markdown conversion failed; sending plain text", exc_info=True)
        return markdown, []
    text, found = converted
    if not text.strip() or utf16_units(text) > LIMIT:  # a conversion may add characters (heading marks)
        return markdown, []
    entities = [
        MessageEntity(
            type=e.type,
            offset=e.offset,
            length=e.length,
            url=e.url,
            language=e.language,
            custom_emoji_id=e.custom_emoji_id,
        )
        for e in found
    ]
    return text, entities


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # the int form is deprecated; either form is fine here
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def refuses_formatting(exc: BadRequest) -> bool:
    """Telegram's 400s about formatting: "can't parse entities", "can't find end of the entity", ..."""
    return "entit" in exc.message.lower()


def priority(level: Priority, retries: int | None = None) -> dict[str, Any]:
    """`rate_limit_args` for a call: its priority, and for plain lines how often a 429 is retried."""
    return {"priority": level} if retries is None else {"priority": level, "retries": retries}


def stop_button(answer: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(_(STOP_LABEL), callback_data=STOP_PREFIX + answer)]])


# Telegram's draft ids are Bot API Integers (32-bit signed) that must be non-zero; positive ones only, as
# some clients read them unsigned.
MAX_DRAFT_ID = 2**31 - 1


def new_draft_id() -> int:
    """A draft id for one answer: random, so no two webhook workers (each counting on its own) hand the
    same chat the same id, and a stop press names one answer whichever worker it reaches."""
    return 1 + secrets.randbelow(MAX_DRAFT_ID)


def draft_stop(chat_id: int, draft_id: int) -> str:
    """The core's Stop id for the answer streaming as `draft_id` in `chat_id`: Telegram's own stop button
    on a draft names only the chat and the draft, so the answer's id is made of them (`Incoming.stop`),
    and any worker that receives the press can name the answer to the core (`Core.stop`)."""
    return f"draft:{chat_id}:{draft_id}"


class Drafts:
    """Which private chats refused drafts (400): they are sent and edited instead, for as long as the
    process runs."""

    def __init__(self) -> None:
        self.refused: set[int] = set()


def not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


class MenuRenderer(Protocol):
    def keyboard(self, menu: Menu, owner: int, group: int | None = None) -> InlineKeyboardMarkup: ...


@dataclass
class ChatMessenger:
    """Sends and edits the bot's messages in one chat; the first one replies to the question (in groups).

    The first message also ends the `typing` indicator, if the answer has one.
    """

    bot: Bot
    chat_id: int
    reply_to: int | None = None  # the question's message id; cleared once the first message replied
    topic: int | None = None  # the forum topic (message_thread_id) to answer in
    typing: TypingIndicator | None = None
    private: bool = False  # a private chat: progress goes out as a draft (unless `drafts` says it can't)
    known: Drafts | None = None  # the process's memory of drafts; None: never draft
    stop: str | None = None  # the core's id of the answer being streamed, for its Stop control
    draft_id: int = field(default_factory=new_draft_id)

    @property
    def drafts(self) -> bool:
        """Messenger: whether progress goes out as a draft."""
        return self.private and self.known is not None and self.chat_id not in self.known.refused

    def _markup(self, final: bool) -> InlineKeyboardMarkup | None:
        return stop_button(self.stop) if self.stop is not None and not final else None

    async def _before_sending(self) -> None:
        if self.typing is not None:
            await self.typing.stop()

    def _reply_parameters(self) -> ReplyParameters | None:
        if self.reply_to is None:
            return None
        reply_to, self.reply_to = self.reply_to, None  # only the first message is a reply
        return ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)

    async def send(self, text: str, *, final: bool) -> int:
        """Messenger: a formatted chunk of a streamed answer; returns its message id for later edits."""
        body, entities = render(text)
        await self._before_sending()
        reply = self._reply_parameters()
        markup = self._markup(final)
        limits = priority(Priority.FINAL if final else Priority.FIRST)

        def attempt(body: str, entities: Sequence[MessageEntity]) -> Coroutine[Any, Any, Message]:
            return self.bot.send_message(
                self.chat_id,
                body,
                entities=entities,
                reply_parameters=reply,
                message_thread_id=self.topic,
                reply_markup=markup,
                rate_limit_args=limits,
            )

        sent = await _formatted(attempt, body, entities, text)
        return sent.message_id

    async def edit(self, handle: int, text: str, *, final: bool) -> None:
        body, entities = render(text)
        markup = self._markup(final)  # none on the final text: the Stop button goes with the progress
        limits = priority(Priority.FINAL if final else Priority.PROGRESS)

        def attempt(body: str, entities: Sequence[MessageEntity]) -> Coroutine[Any, Any, Message | bool]:
            return self.bot.edit_message_text(
                body, self.chat_id, handle, entities=entities, reply_markup=markup, rate_limit_args=limits
            )

        try:
            await _formatted(attempt, body, entities, text)
        except BadRequest as exc:
            if not not_modified(exc):  # the same text again (a Markdown marker still unclosed): done
                raise

    async def draft(self, text: str) -> None:
        """Messenger: the message being written, as this answer's draft, with Telegram's stop button."""
        body, entities = render(text)
        await self._before_sending()

        def attempt(body: str, entities: Sequence[MessageEntity]) -> Coroutine[Any, Any, bool]:
            return self._send_draft(body, entities)

        try:
            await _formatted(attempt, body, entities, text)
        except BadRequest as exc:
            self._refused(exc)

    async def thinking(self) -> None:
        """An empty draft: Telegram's "Thinking…" placeholder while the model has said nothing yet (as
        dispensable as "typing…", and spent like it: the first to go under load)."""
        try:
            await self._send_draft("", (), Priority.TYPING)
        except BadRequest as exc:
            self._refused(exc)

    def _send_draft(
        self, body: str, entities: Sequence[MessageEntity], urgency: Priority = Priority.PROGRESS
    ) -> Coroutine[Any, Any, bool]:
        # can_stop/keep_on_stop (Bot API 10.3) are newer than python-telegram-bot 22.8: sent as they are
        stop = {"can_stop": True, "keep_on_stop": True} if self.stop is not None else None
        return self.bot.send_message_draft(
            self.chat_id,
            self.draft_id,
            body,
            message_thread_id=self.topic,
            entities=entities,
            api_kwargs=stop,
            rate_limit_args=priority(urgency),
        )

    def _refused(self, exc: BadRequest) -> None:
        assert self.known is not None
        log.info("telegram: chat %s refused a draft (%s); sending and editing there", self.chat_id, exc)
        self.known.refused.add(self.chat_id)
        raise DraftsRefused() from None

    async def send_plain(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
        """A line from the core (not model output): no formatting, retried through flood control."""
        await self._before_sending()
        return await self.bot.send_message(
            self.chat_id,
            text,
            reply_markup=markup,
            reply_parameters=self._reply_parameters(),
            message_thread_id=self.topic,
            rate_limit_args=priority(Priority.FINAL, PLAIN_RETRIES),
        )


async def _formatted(
    attempt: Callable[[str, Sequence[MessageEntity]], Coroutine[Any, Any, T]],
    body: str,
    entities: Sequence[MessageEntity],
    markdown: str,
) -> T:
    """Send with entities; on a formatting refusal send the Markdown as it is. 429 → FloodWait, and a
    call the scheduler dropped → Skipped."""
    try:
        try:
            return await attempt(body, entities)
        except BadRequest as exc:
            if not entities or not refuses_formatting(exc):
                raise
            log.info("telegram: formatting refused (%s); sending plain text", exc.message)
            return await attempt(markdown, ())
    except RetryAfter as exc:
        raise FloodWait(retry_seconds(exc)) from None
    except Dropped:
        raise Skipped() from None


class TelegramReply:
    """The core's `Reply` for one message: lines, streamed answers and menus in the message's chat.

    Telegram has no ephemeral messages, so a private line is sent like any other (as a reply to the asker
    in a group), and the group reads it. That is why no line carries a secret outside a private chat: the
    core refuses such commands there (`Incoming.private`, e.g. /link) instead of relying on this reply.
    """

    def __init__(
        self, messenger: ChatMessenger, menus: MenuRenderer, *, asker: int, edit_interval: float
    ) -> None:
        self.messenger = messenger
        self._menus = menus
        self._asker = asker
        self._edit_interval = edit_interval

    async def text(self, text: str, *, private: bool = False) -> None:
        for chunk in split_text(text, LIMIT, utf16_units):
            await self.messenger.send_plain(chunk)

    def stream(self, stop: str | None = None) -> StreamingAnswer:
        messenger = self.messenger
        messenger.stop = stop
        return StreamingAnswer(
            messenger,
            limit=LIMIT,
            measure=utf16_units,
            interval=self._edit_interval,
            first_delay=self._edit_interval,
        )

    async def menu(self, menu: Menu) -> None:
        if not menu.groups:
            await self.text(menu.as_text())
            return
        await self.messenger.send_plain(menu.title, self._menus.keyboard(menu, self._asker))


class TypingIndicator:
    """Shows "typing…" in a chat while an answer is on its way, until its first message goes out.

    Only when the first text is more than about a second away (`TYPING_AFTER`): a quick answer spends no
    call on it. In a chat that takes drafts the indicator is an empty draft instead (`placeholder`),
    Telegram's "Thinking…", which the answer's drafts then replace.

    Telegram clears the indicator when the bot's message arrives, so refreshing it after that would only
    spend the flood-control budget (30 messages a second). `stop` waits for an action already in flight,
    so no "typing…" can land after the answer's first message.
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        topic: int | None,
        placeholder: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self.topic = topic
        self.placeholder = placeholder
        self._stopped = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None
        self._coming = contextlib.ExitStack()  # the scheduler's count of answers that have sent nothing yet

    async def __aenter__(self) -> TypingIndicator:
        scheduler = self._bot.rate_limiter
        if isinstance(scheduler, OutgoingScheduler):
            self._coming.enter_context(scheduler.budget.answer_coming())
        # in the background from the first action on: under flood control it may queue behind other
        # chats, and the question should not wait for its "typing…"
        self._refresher = asyncio.create_task(self._keep_up())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        self._stopped.set()
        self._coming.close()
        if self._refresher is not None:
            await self._refresher

    async def _keep_up(self) -> None:
        every = TYPING_AFTER
        while not await self._stopped_within(every):
            every = await self._action()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):  # still no message: (re)new the action
            async with asyncio.timeout(seconds):  # no task of its own, unlike `wait_for`
                await self._stopped.wait()
        return self._stopped.is_set()

    async def _action(self) -> float:
        """One "typing…" (or "Thinking…" draft); returns how long it shows."""
        try:
            if self.placeholder is not None:
                try:
                    await self.placeholder()
                    return THINKING_EVERY
                except DraftsRefused:
                    self.placeholder = None
            await self._bot.send_chat_action(
                self._chat_id,
                ChatAction.TYPING,
                message_thread_id=self.topic,
                rate_limit_args=priority(Priority.TYPING),
            )
        except Exception as exc:  # cosmetic (or dropped under load): never worth failing an answer for
            log.debug("telegram: typing action failed: %s", exc)
        return TYPING_EVERY
