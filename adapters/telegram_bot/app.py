"""The python-telegram-bot Application: which messages reach the core, in what order, and menu taps.

A private chat is a conversation with the bot, so plain text there is a question. In a group the bot
speaks only when spoken to: a command for it (`/ask`, `/ask@botname`), a message that mentions it, or a
reply to one of its messages; everything else is chatter and never reaches the core. Each person has one
conversation per chat (`telegram:<chat>:<user>`), paid by their identity `telegram:<user>`.

Updates run concurrently, so a slow answer never holds up anyone else, but `PerPersonOrder` queues one
person's updates behind each other: their second question waits for the first answer (and is asked with
its history), and a menu tap is applied after the /model that showed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update, User
from telegram.constants import ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor, CallbackContext

from adapters.handoff import ChatCore, Handoff, KnownCommands, short
from adapters.streaming import StreamingAnswer
from adapters.telegram_bot.menu import Browse, MenuBoard
from adapters.telegram_bot.reply import Bot, ChatMessenger, TelegramReply, TypingIndicator
from bot.incoming import Incoming, Menu

log = logging.getLogger(__name__)
answer = Handoff("telegram", TelegramError, log).answer

EXPIRED = "This menu has expired; send /model again."
NOT_YOURS = "This menu belongs to someone else; send /model for your own."
TOAST = 200  # Telegram's limit for a callback answer's text
Context = CallbackContext[Bot, Any, Any, Any]


# ---------------------------------------------------------------- ordering


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


class PerPersonOrder(BaseUpdateProcessor):
    """Concurrent updates, one person's strictly in arrival order.

    PTB starts one task per update in arrival order, and each reaches this lock before its first real
    suspension; `asyncio.Lock` wakes waiters first in, first out, so arrival order is answer order.
    """

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._slots: dict[int, _Slot] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        person = update.effective_user.id if isinstance(update, Update) and update.effective_user else None
        if person is None:
            await coroutine
            return
        slot = self._slots.setdefault(person, _Slot())
        slot.waiting += 1
        try:
            async with slot.lock:
                await coroutine
        finally:
            slot.waiting -= 1
            if slot.waiting == 0:
                del self._slots[person]  # no lock kept per person ever seen

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""


# ---------------------------------------------------------------- which messages are for the bot


def identity(user: User) -> str:
    return f"telegram:{user.id}"


def conversation_key(chat_id: int, user_id: int) -> str:
    """One conversation per person per chat."""
    return f"telegram:{chat_id}:{user_id}"


def addressed(message: Message, me: User, commands: frozenset[str]) -> tuple[str, bool] | None:
    """(text for the core, direct) for a message meant for the bot, None for anything else.

    `commands` are the names the core knows: in a group a bare "/start" may be for another bot, so only
    those (or a command explicitly "@"-addressed to this bot) are taken.
    """
    text = message.text or ""
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
    for entity, shown in message.parse_entities(
        [MessageEntityType.MENTION, MessageEntityType.TEXT_MENTION]
    ).items():
        if (entity.type == MessageEntityType.MENTION and shown.lower() == handle) or (
            entity.user is not None and entity.user.id == me.id
        ):
            found.append((entity.offset, entity.length))
    return found


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

    def stream(self) -> StreamingAnswer:  # no menu command streams; answer in the chat if one ever does
        return TelegramReply(
            self.messenger, self._board, asker=self._asker, edit_interval=self._edit_interval
        ).stream()

    async def menu(self, menu: Menu) -> None:
        self.replaced = True
        await self.messenger.bot.edit_message_text(
            menu.title,
            self.messenger.chat_id,
            self._message_id,
            reply_markup=self._board.keyboard(menu, self._asker),
        )


class Handlers:
    """The two entry points PTB calls: a text message, and a tap on a menu button."""

    def __init__(self, core: ChatCore, *, edit_interval: float) -> None:
        self.core = core
        self.edit_interval = edit_interval
        self.board = MenuBoard()
        self.commands = KnownCommands(core.command_list(owner=True))

    async def on_message(self, update: Update, context: Context) -> None:
        message, sender = update.message, update.effective_user
        if message is None or sender is None or sender.is_bot or message.text is None:
            return
        me = context.bot.bot
        found = addressed(message, me, self.commands.names)
        if found is None:
            return
        text, direct = found
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
            reply_to_user=identity(replied) if replied is not None else None,
        )
        # A streamed answer takes a while before its first word; commands like /spend answer at once.
        streams = self.commands.streams(text, direct=direct)
        indicator = TypingIndicator(context.bot, chat_id, topic) if streams else None
        reply_to = message.message_id if group else None
        messenger = ChatMessenger(context.bot, chat_id, reply_to=reply_to, topic=topic, typing=indicator)
        reply = TelegramReply(messenger, self.board, asker=sender.id, edit_interval=self.edit_interval)
        async with indicator or contextlib.nullcontext():
            await answer(self.core, incoming, reply)

    async def on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        action = self.board.recall(query.data)
        if action is None or query.message is None:
            await _toast(query.answer(EXPIRED))
            return
        if action.owner != query.from_user.id:
            await _toast(query.answer(NOT_YOURS))
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
        )
        await answer(self.core, incoming, reply)
        confirmation = "\n".join(reply.lines) or action.label
        await _toast(query.answer(confirmation[:TOAST]))
        if not reply.replaced:
            await context.bot.edit_message_text(confirmation, chat_id, message_id)  # drops the keyboard

    async def on_error(self, update: object, context: Context) -> None:
        """PTB's last resort: a short line; the detail only at debug level (it may quote a request)."""
        error = context.error
        log.warning("telegram: %s", short(error) if error else "unknown error")
        log.debug("telegram: error detail", exc_info=error)


async def _toast(call: Awaitable[bool]) -> None:
    """Answer a callback query; a late answer (the query expired) is not worth an error."""
    try:
        await call
    except TelegramError as exc:
        log.info("telegram: could not answer a button tap: %s", short(exc))
