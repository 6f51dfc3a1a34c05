"""The handlers python-telegram-bot calls: a message for the bot, a button tap, a draft stopped.

A message the bot should answer (`addressing`) is claimed first, so an update Telegram sends again after a
crash is answered once; its photos, image files, voice notes or audio files are downloaded (`media`), an
album taken as one question (`albums`), and the core answers it through a `TelegramReply`. A menu tap is
answered in place of the menu (`MenuReply`); a Stop, on an answer's button or Telegram's own on a draft,
reaches the core at once, never queued behind the answer it stops (`ordering`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from telegram import CallbackQuery, Update, User
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackContext

from adapters.handoff import ChatCore, Handoff, KnownCommands, short
from adapters.media import file_line
from adapters.person_queues import PersonQueues
from adapters.streaming import StreamingAnswer
from adapters.telegram_bot.addressing import (
    addressed,
    album_question,
    for_the_core,
    identity,
    incoming_from,
    replied_author,
)
from adapters.telegram_bot.albums import Albums
from adapters.telegram_bot.media import download, replied_images, wanted
from adapters.telegram_bot.menu import Browse, MenuBoard
from adapters.telegram_bot.reply import (
    STOP_PREFIX,
    Bot,
    ChatMessenger,
    Drafts,
    TelegramReply,
    TypingIndicator,
    draft_stop,
)
from bot.i18n import N_, _, speaking
from bot.incoming import Menu
from bot.refusals import FileNotTaken

log = logging.getLogger(__name__)
answer = Handoff("telegram", TelegramError, log).answer

EXPIRED = N_("This menu has expired; send /model again.")
NOT_YOURS = N_("This menu belongs to someone else; send /model for your own.")
TOAST = 200  # Telegram's limit for a callback answer's text
Context = CallbackContext[Bot, Any, Any, Any]


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
    """The entry points PTB calls: a message (text, or a photo, file, voice note or audio file, see
    `MESSAGES`), a tap on a button (a menu's, an answer's Stop), and Telegram's own stop button on a draft."""

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
            text = album_question(text, message, parts, me, self.commands.names)
            files = [file for part in parts for file in wanted(part)]
        chat_id = message.chat.id
        group = message.chat.type != ChatType.PRIVATE
        topic = message.message_thread_id if message.is_topic_message else None
        incoming = incoming_from(
            sender, chat_id, text, direct=direct, private=not group, replied=replied_author(message)
        )
        reply_to = message.message_id if group else None
        messenger = ChatMessenger(
            context.bot, chat_id, reply_to=reply_to, topic=topic, private=not group, known=self.drafts
        )
        if messenger.drafts:  # Telegram's stop button on the draft names the answer by chat and draft
            incoming = replace(incoming, stop=draft_stop(chat_id, messenger.draft_id))
        # A streamed answer takes a while before its first word; commands like /spend answer at once. A
        # file alone is a question too (the core asks about it).
        if self.commands.streams(text, direct=direct) or bool(files and direct):
            placeholder = messenger.thinking if messenger.drafts else None
            messenger.typing = TypingIndicator(context.bot, chat_id, topic, placeholder)
        reply = TelegramReply(messenger, self.board, asker=sender.id, edit_interval=self.edit_interval)
        async with messenger.typing or contextlib.nullcontext():
            if files:
                try:
                    attachments = await download(context.bot, files, self.max_media_mb)
                except FileNotTaken as refused:  # one line, and the core never hears of it
                    async with self.core.speaking_to(incoming):
                        await _say(reply, file_line(refused), sender)
                    return
                incoming = replace(incoming, attachments=attachments)
            await answer(self.core, incoming, reply)

    async def on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is not None and query.data and query.data.startswith(STOP_PREFIX):
            line = await self.core.stop(
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
        private = query.message.chat.type == ChatType.PRIVATE
        incoming = incoming_from(user, chat_id, action.command, direct=private, private=private)
        await answer(self.core, incoming, reply)
        confirmation = "\n".join(reply.lines) or action.label
        await _toast(query.answer(confirmation[:TOAST]))
        if not reply.replaced:
            await context.bot.edit_message_text(confirmation, chat_id, message_id)  # drops the keyboard

    async def on_other(self, update: Update, context: Context) -> None:
        """Updates newer than python-telegram-bot: Telegram's stop button on a draft (Bot API 10.3's
        `stopped_message_generation`, read from the update's extra fields). The answer's Stop id is made
        of the chat and the draft (`draft_stop`), so the core finds it whichever worker streams it. Drafts
        exist only in private chats, and the update names no presser (`from`) of its own: a private
        chat's id is its person's, so whoever pressed it is the chat's person, checked like any other
        press. There is nobody to answer (Telegram shows the stop itself): the core's line is only logged.
        """
        stopped = update.api_kwargs.get("stopped_message_generation")
        if not isinstance(stopped, dict):
            return
        try:
            chat_id, draft_id = int(stopped["chat"]["id"]), int(stopped["draft_id"])
        except (KeyError, TypeError, ValueError):
            log.info("telegram: unreadable stopped_message_generation update")
            return
        line = await self.core.stop(draft_stop(chat_id, draft_id), by=f"telegram:{chat_id}")
        log.debug("telegram: draft %s stopped in chat %s: %s", draft_id, chat_id, line)

    async def on_error(self, update: object, context: Context) -> None:
        """PTB's last resort: a short line; the detail only at debug level (it may quote a request)."""
        error = context.error
        log.warning("telegram: %s", short(error) if error else "unknown error")
        log.debug("telegram: error detail", exc_info=error)


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
