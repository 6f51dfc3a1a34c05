"""The python-telegram-bot Application: which messages reach the core, in what order, and menu taps.

A private chat is a conversation with the bot, so plain text there is a question. In a group the bot
speaks only when spoken to: a command for it (`/ask`, `/ask@botname`), a message that mentions it, or a
reply to one of its messages; everything else is chatter and never reaches the core. A photo, an image
file, a voice note or an audio file is a message too, its caption the question (`media`), and an album
is one (`albums`). Each person has one conversation per chat (`telegram:<chat>:<user>`), paid by their
identity `telegram:<user>`.

Updates run concurrently, so a slow answer never holds up anyone else, but `PerPersonOrder` queues one
person's updates behind each other: their second question waits for the first answer (and is asked with
its history), and a menu tap is applied after the /model that showed it. A person's queue is bounded
(`adapters.person_queues`), and an update Telegram sends again after a crash is answered once (the core
claims each update id before its handler runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
from collections.abc import Awaitable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from telegram import CallbackQuery, Message, Update, User
from telegram.constants import ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor, CallbackContext

from adapters.handoff import ChatCore, Handoff, KnownCommands, short
from adapters.media import file_line
from adapters.person_queues import PersonQueues
from adapters.streaming import StreamingAnswer
from adapters.telegram_bot.albums import Albums
from adapters.telegram_bot.media import carries_media, download, replied_images, wanted
from adapters.telegram_bot.menu import Browse, MenuBoard
from adapters.telegram_bot.reply import (
    STOP_PREFIX,
    Bot,
    ChatMessenger,
    Drafts,
    TelegramReply,
    TypingIndicator,
)
from bot.i18n import N_, _, speaking
from bot.incoming import Incoming, Menu
from bot.refusals import FileNotTaken
from bot.storage import Turn

log = logging.getLogger(__name__)
answer = Handoff("telegram", TelegramError, log).answer

EXPIRED = N_("This menu has expired; send /model again.")
NOT_YOURS = N_("This menu belongs to someone else; send /model for your own.")
TOAST = 200  # Telegram's limit for a callback answer's text
Context = CallbackContext[Bot, Any, Any, Any]


# ---------------------------------------------------------------- ordering

# PTB holds one of its slots for each update from arrival until `do_process_update` returns, waiting in a
# person's queue included, so its bound must never be what limits: the queues bound what waits (per
# person) and what runs (everyone together), see `adapters.person_queues`.
ACCEPTED = sys.maxsize


class PerPersonOrder(BaseUpdateProcessor):
    """Concurrent updates, one person's strictly in arrival order, none holding up anyone else.

    PTB starts one task per update in arrival order, and each joins its person's queue before its first
    suspension, so arrival order is answer order. An update that is not for the bot (group chatter) is
    not queued: it only passes through the handler that ignores it.

    With a webhook, several processes may receive one person's updates (web workers behind a load
    balancer). Then each update also lines up in its person's turn in the database as it arrives (`admit`,
    before Telegram hears 200), and is handled only once the turns lined up before it, in any process,
    have ended: the order in which updates reach the workers is the order of the answers.
    """

    def __init__(self, handlers: Handlers, queues: PersonQueues | None = None) -> None:
        super().__init__(ACCEPTED)
        self._handlers = handlers
        self.queues = queues or PersonQueues()
        self._turns: dict[int, Turn] = {}  # by id() of an admitted update until its task picks it up
        # One line-up at a time, queued right after it: this process queues a person's updates in the
        # order of their turns (otherwise the first queued could wait for a turn behind the second).
        self._lining_up = asyncio.Lock()

    async def admit(self, update: Update, queue: asyncio.Queue[object]) -> None:
        """Webhook: line `update` up in its person's turn across processes, then queue it for PTB.

        A turn the database can't give is skipped with a warning: answering in this process's order is
        better than not answering.
        """
        person = self._handlers.person(update)
        if person is None:
            await queue.put(update)
            return
        async with self._lining_up:
            try:
                self._turns[id(update)] = await self._handlers.core.line_up(f"telegram:{person}")
            except Exception as exc:
                log.warning("telegram: no turn for telegram:%s, answering anyway: %s", person, short(exc))
            await queue.put(update)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        self._handlers.arrived(update)
        person = self._handlers.person(update)
        turn = self._turns.pop(id(update), None)  # before any suspension, like joining the queue below
        if person is None:
            await coroutine
            return

        async def dropped(first: bool) -> None:
            if first:
                await self._handlers.tell_dropped(update, self.queues)

        try:
            await self.queues.run(person, coroutine if turn is None else _in_turn(turn, coroutine), dropped)
        finally:
            if turn is not None:  # also when dropped or cancelled: leave the line, nobody waits for it
                if (
                    inspect.iscoroutine(coroutine)
                    and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
                ):
                    coroutine.close()  # dropped: the queue closed `_in_turn`, which never got to run it
                await turn.close()

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """`Application.stop` has waited for every update it accepted; an update admitted but never
        picked up (the stop came first) leaves its person's line here, so no other worker waits for it."""
        turns, self._turns = list(self._turns.values()), {}
        for turn in turns:
            await turn.close()


async def _in_turn(turn: Turn, coroutine: Awaitable[Any]) -> None:
    """Run `coroutine` once `turn` is taken (a turn the database lost: run it anyway, with a warning)."""
    try:
        await turn.taken()
    except Exception as exc:
        log.warning("telegram: lost a turn while waiting for it, answering anyway: %s", short(exc))
    except BaseException:
        if asyncio.iscoroutine(coroutine):
            coroutine.close()  # never run: close it, or Python warns it was never awaited
        raise
    await coroutine


# ---------------------------------------------------------------- which messages are for the bot


def identity(user: User) -> str:
    return f"telegram:{user.id}"


def conversation_key(chat_id: int, user_id: int) -> str:
    """One conversation per person per chat."""
    return f"telegram:{chat_id}:{user_id}"


def addressed(message: Message, me: User, commands: frozenset[str]) -> tuple[str, bool] | None:
    """(text for the core, direct) for a message meant for the bot, None for anything else.

    `commands` are the names the core knows: in a group a bare "/start" may be for another bot, so only
    those (or a command explicitly "@"-addressed to this bot) are taken. A photo's or a file's caption
    reads like a message's text: it is the question asked about the file (empty: the file alone).
    """
    text = body(message)
    if message.chat.type == ChatType.PRIVATE:
        return text, True
    if text.startswith("/"):
        name, _, target = text.split(maxsplit=1)[0][1:].partition("@")
        if target:
            return (text, False) if target.lower() == (me.username or "").lower() else None
        return (text, False) if name.lower() in commands else None
    mentions = _own_mentions(message, me)
    if mentions:
        return _without(text, mentions).strip(), True  # empty for a bare mention: the core answers with help
    if _replies_to(message, me):
        return text, True
    return None


def _own_mentions(message: Message, me: User) -> list[tuple[int, int]]:
    """UTF-16 (offset, length) of each mention of the bot: "@botname", or a text mention of its user."""
    handle = f"@{me.username}".lower()
    found = []
    kinds: list[str | None] = [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
    parsed = (
        message.parse_entities(kinds) if message.text is not None else message.parse_caption_entities(kinds)
    )
    for entity, shown in parsed.items():
        if (entity.type == MessageEntityType.MENTION and shown.lower() == handle) or (
            entity.user is not None and entity.user.id == me.id
        ):
            found.append((entity.offset, entity.length))
    return found


def body(message: Message) -> str:
    """What a message says: its text, or the caption of the photo or file it carries."""
    return message.text if message.text is not None else message.caption or ""


def for_the_core(message: Message) -> bool:
    """Whether a message is of a kind the core answers: text, or a file (a photo, a voice note, ...)."""
    return message.text is not None or carries_media(message)


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the given UTF-16 spans cut out (entity offsets count UTF-16 code units)."""
    units = text.encode("utf-16-le")
    for offset, length in sorted(spans, reverse=True):
        units = units[: offset * 2] + units[(offset + length) * 2 :]
    return units.decode("utf-16-le")


def _replied_author(message: Message) -> User | None:
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:  # in a topic, every message "replies"
        return None  # to the topic's first message; that is not a reply to its author
    return replied.from_user


def _replies_to(message: Message, me: User) -> bool:
    author = _replied_author(message)
    return author is not None and author.id == me.id


# ---------------------------------------------------------------- handlers


class MenuReply:
    """The core's `Reply` for a menu tap: lines become the menu message's new text, a menu replaces it."""

    def __init__(
        self, messenger: ChatMessenger, board: MenuBoard, *, message_id: int, asker: int, edit_interval: float
    ) -> None:
        self.messenger = messenger
        self._edit_interval = edit_interval
        self.lines: list[str] = []
        self.replaced = False
        self._board = board
        self._message_id = message_id
        self._asker = asker

    async def text(self, text: str, *, private: bool = False) -> None:
        self.lines.append(text)

    def stream(self, stop: str | None = None) -> StreamingAnswer:  # no menu command streams; answer in
        return TelegramReply(  # the chat if one ever does
            self.messenger, self._board, asker=self._asker, edit_interval=self._edit_interval
        ).stream(stop)

    async def menu(self, menu: Menu) -> None:
        self.replaced = True
        await self.messenger.bot.edit_message_text(
            menu.title,
            self.messenger.chat_id,
            self._message_id,
            reply_markup=self._board.keyboard(menu, self._asker),
        )


class Handlers:
    """The entry points PTB calls: a text message, a tap on a button (a menu's, an answer's Stop), and
    Telegram's own stop button on a draft."""

    def __init__(self, core: ChatCore, *, edit_interval: float, max_media_mb: Decimal) -> None:
        self.core = core
        self.edit_interval = edit_interval
        self.max_media_mb = max_media_mb
        self.board = MenuBoard()
        self.commands = KnownCommands(core.command_list(owner=True))
        self.albums = Albums()
        self.drafts = Drafts()

    def arrived(self, update: object) -> None:
        """Note an album part as it arrives, before it waits in its person's queue (`albums`)."""
        if isinstance(update, Update) and update.message is not None:
            self.albums.arrived(update.message)

    def person(self, update: object) -> int | None:
        """Who an update comes from when the bot answers it (a menu tap, a message for the bot); None for
        anything the handlers ignore."""
        if not isinstance(update, Update):
            return None
        if update.callback_query is not None:
            if (update.callback_query.data or "").startswith(STOP_PREFIX):
                return None  # a Stop must not wait in line behind the very answer it stops
            return update.callback_query.from_user.id
        message, sender = update.message, update.effective_user
        if message is None or sender is None or sender.is_bot or not for_the_core(message):
            return None
        return sender.id if addressed(message, update.get_bot().bot, self.commands.names) else None

    async def tell_dropped(self, update: object, queues: PersonQueues) -> None:
        """The one notice for the first update of a burst that the person's full queue dropped."""
        if not isinstance(update, Update):
            return
        sender = update.effective_user
        notice = queues.notice(self.core.client_language(sender.language_code if sender else None))
        if update.callback_query is not None:
            await _toast(update.callback_query.answer(notice[:TOAST]))
        elif update.message is not None:
            try:
                await update.message.reply_text(notice)
            except TelegramError as exc:
                log.info(
                    "telegram: could not tell %s their messages were dropped: %s",
                    update.effective_user,
                    short(exc),
                )

    async def _first_delivery(self, update: Update, context: Context) -> bool:
        """Claim the update; False when it was answered (or is being answered) already. Telegram re-sends
        unconfirmed updates after a crash with the same update id, which is unique per bot."""
        return await self.core.claim(f"telegram:{context.bot.id}:{update.update_id}")

    async def on_message(self, update: Update, context: Context) -> None:
        message, sender = update.message, update.effective_user
        if message is None or sender is None or sender.is_bot or not for_the_core(message):
            return
        me = context.bot.bot
        found = addressed(message, me, self.commands.names)
        if found is None:
            return
        # The first addressed part of an album answers for all of its parts, even when its claim fails
        # (answered before a crash): the other parts then find the album taken, and are not answered.
        album = self.albums.take(message) if message.media_group_id is not None else None
        if message.media_group_id is not None and album is None:
            return
        if not await self._first_delivery(update, context):
            return
        text, direct = found
        files = wanted(message) or replied_images(message)
        if album is not None:
            parts = await album.complete()
            text = _album_question(text, message, parts, me, self.commands.names)
            files = [file for part in parts for file in wanted(part)]
        chat_id = message.chat.id
        group = message.chat.type != ChatType.PRIVATE
        topic = message.message_thread_id if message.is_topic_message else None
        replied = _replied_author(message)
        incoming = Incoming(
            user=identity(sender),
            conversation=conversation_key(chat_id, sender.id),
            text=text,
            direct=direct,
            private=not group,
            username=f"@{sender.username}" if sender.username else None,
            display_name=sender.full_name,
            language=sender.language_code,
            reply_to_user=identity(replied) if replied is not None else None,
        )
        reply_to = message.message_id if group else None
        messenger = ChatMessenger(
            context.bot, chat_id, reply_to=reply_to, topic=topic, private=not group, known=self.drafts
        )
        # A streamed answer takes a while before its first word; commands like /spend answer at once. A
        # file alone is a question too (the core asks about it).
        if self.commands.streams(text, direct=direct) or bool(files and direct):
            placeholder = messenger.thinking if messenger.drafts else None
            messenger.typing = TypingIndicator(context.bot, chat_id, topic, placeholder)
        reply = TelegramReply(messenger, self.board, asker=sender.id, edit_interval=self.edit_interval)
        try:
            async with messenger.typing or contextlib.nullcontext():
                if files:
                    try:
                        attachments = await download(context.bot, files, self.max_media_mb)
                    except FileNotTaken as refused:  # one line, and the core never hears of it
                        await _say(reply, file_line(refused), sender)
                        return
                    incoming = replace(incoming, attachments=attachments)
                await answer(self.core, incoming, reply)
        finally:
            self.drafts.answers.pop((chat_id, messenger.draft_id), None)

    async def on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is not None and query.data and query.data.startswith(STOP_PREFIX):
            line = self.core.stop(
                query.data.removeprefix(STOP_PREFIX),
                by=identity(query.from_user),
                language=query.from_user.language_code,
            )
            await _toast(query.answer(line[:TOAST]))
            return
        if query is None or not await self._first_delivery(update, context):
            return
        with speaking(self.core.client_language(query.from_user.language_code)):  # "expired", « Providers
            await self._on_callback(query, context)

    async def _on_callback(self, query: CallbackQuery, context: Context) -> None:
        action = self.board.recall(query.data)
        if action is None or query.message is None:
            await _toast(query.answer(_(EXPIRED)))
            return
        if action.owner != query.from_user.id:
            await _toast(query.answer(_(NOT_YOURS)))
            return
        chat_id, message_id = query.message.chat.id, query.message.message_id
        if isinstance(action, Browse):
            await _toast(query.answer())
            await context.bot.edit_message_text(
                self.board.title(action.menu, action.group),
                chat_id,
                message_id,
                reply_markup=self.board.keyboard(action.menu, action.owner, action.group),
            )
            return
        user = query.from_user
        messenger = ChatMessenger(context.bot, chat_id, reply_to=None, topic=None)
        reply = MenuReply(
            messenger, self.board, message_id=message_id, asker=user.id, edit_interval=self.edit_interval
        )
        incoming = Incoming(
            user=identity(user),
            conversation=conversation_key(chat_id, user.id),
            text=action.command,
            direct=query.message.chat.type == ChatType.PRIVATE,
            private=query.message.chat.type == ChatType.PRIVATE,
            username=f"@{user.username}" if user.username else None,
            display_name=user.full_name,
            language=user.language_code,
        )
        await answer(self.core, incoming, reply)
        confirmation = "\n".join(reply.lines) or action.label
        await _toast(query.answer(confirmation[:TOAST]))
        if not reply.replaced:
            await context.bot.edit_message_text(confirmation, chat_id, message_id)  # drops the keyboard

    async def on_other(self, update: Update, context: Context) -> None:
        """Updates newer than python-telegram-bot: Telegram's stop button on a draft (Bot API 10.3's
        `stopped_message_generation`, read from the update's extra fields). Drafts exist only in private
        chats, so whoever pressed it is the chat's person."""
        stopped = update.api_kwargs.get("stopped_message_generation")
        if not isinstance(stopped, dict):
            return
        try:
            chat_id, draft_id = int(stopped["chat"]["id"]), int(stopped["draft_id"])
        except (KeyError, TypeError, ValueError):
            log.info("telegram: unreadable stopped_message_generation update")
            return
        found = self.drafts.answers.get((chat_id, draft_id))
        if found is not None:
            self.core.stop(found, by=f"telegram:{chat_id}")

    async def on_error(self, update: object, context: Context) -> None:
        """PTB's last resort: a short line; the detail only at debug level (it may quote a request)."""
        error = context.error
        log.warning("telegram: %s", short(error) if error else "unknown error")
        log.debug("telegram: error detail", exc_info=error)


def _album_question(
    text: str, leader: Message, parts: list[Message], me: User, commands: frozenset[str]
) -> str:
    """An album's question: the captions of its parts, the addressed part's first (mention removed)."""
    others = []
    for part in parts:
        if part.message_id != leader.message_id:
            found = addressed(part, me, commands)
            others.append(found[0] if found is not None else body(part).strip())
    return "\n".join(caption for caption in (text, *others) if caption)


async def _say(reply: TelegramReply, line: str, sender: User) -> None:
    try:
        await reply.text(line)
    except TelegramError as exc:
        log.info("telegram: could not tell %s about their file: %s", identity(sender), short(exc))


async def _toast(call: Awaitable[bool]) -> None:
    """Answer a callback query; a late answer (the query expired) is not worth an error."""
    try:
        await call
    except TelegramError as exc:
        log.info("telegram: could not answer a button tap: %s", short(exc))
