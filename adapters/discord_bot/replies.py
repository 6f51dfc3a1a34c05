"""How an answer reaches Discord: into a deferred interaction response, or as messages in a channel.

An interaction's token (which every edit and follow-up uses) dies 15 minutes after the interaction;
Discord then answers 401 "Invalid Webhook Token" (code 50027). An answer still streaming at that point
continues as ordinary messages: public ones in the channel, private ones in a DM to the asker.

A streaming answer carries a Stop button (a component whose custom id is `stop:` and the core's id for the
answer) on its progress; the final text goes without it. The client answers presses (`Core.stop`).
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord_bot.pacing import PacedMessenger, Pacer
from adapters.streaming import Messenger, StreamingAnswer, split_text
from bot.i18n import N_, _
from bot.incoming import Menu

log = logging.getLogger("adapters.discord_bot")

LIMIT = 2000  # per message, in code points (what `len` counts): discord/discord-api-docs#1315
PLACEHOLDER = "…"  # completes a public deferred response just before it is withdrawn
INVALID_WEBHOOK_TOKEN = 50027  # the interaction's 15 minutes are over
STOP_PREFIX = "stop:"  # a Stop button's custom id: the prefix, then the core's id for the answer
STOP_LABEL = N_("Stop")


def stop_view(answer: str | None, final: bool) -> discord.ui.View | None:
    """The Stop button for an answer's progress; None (no components) for its final text."""
    if answer is None or final:
        return None
    view = discord.ui.View(timeout=None)
    button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
        label=_(STOP_LABEL), style=discord.ButtonStyle.danger, custom_id=STOP_PREFIX + answer
    )
    view.add_item(button)
    # Presses reach the client's `on_interaction`, not the view store: a finished view is sent as it is
    # but never kept, so answers leave nothing behind in discord.py's store.
    view.stop()
    return view


def streaming(messenger: Messenger, interval: float) -> StreamingAnswer:
    """The shared streaming loop at Discord's limit: progress at most every `interval` seconds, the first
    no sooner (an answer done by then is one message)."""
    return StreamingAnswer(
        messenger, limit=LIMIT, measure=discord_length, interval=interval, first_delay=interval
    )


def with_view(view: discord.ui.View | None) -> dict[str, Any]:
    """A new message's keyword for its components: nothing at all when it has none."""
    return {} if view is None else {"view": view}


def discord_length(text: str) -> int:
    """Length as Discord counts it for the 2,000 limit: code points, so an emoji is one, not two."""
    return len(text)


def token_expired(exc: discord.HTTPException) -> bool:
    return exc.code == INVALID_WEBHOOK_TOKEN


# ---------------------------------------------------------------- answering a slash command


class _Original:
    """Handle for the interaction's original (deferred) response."""


ORIGINAL = _Original()


class InteractionReply:
    """Answers one deferred interaction: the original response first, then follow-ups."""

    def __init__(
        self,
        interaction: discord.Interaction,
        *,
        public: bool,
        edit_interval: float = 1.0,
        pacer: Pacer | None = None,
    ) -> None:
        self._interaction = interaction
        self._pacer = pacer or Pacer()
        self._public = public  # how the response was deferred; Discord never changes it afterwards
        self._original_pending = True  # the "thinking…" placeholder still awaits content
        self._edit_interval = edit_interval
        self._expired = False  # the token is dead: everything else goes out as ordinary messages
        self._moved: dict[Any, discord.Message] = {}  # handle → the ordinary message that shows its text
        self._stop: str | None = None  # the streamed answer's id for its Stop button

    async def text(self, text: str, *, private: bool = False) -> None:
        for chunk in split_text(text, LIMIT, discord_length):
            if private and self._public and self._original_pending and not self._expired:
                await self._withdraw_original()
            await self.send(chunk, private=private)

    def stream(self, stop: str | None = None) -> StreamingAnswer:
        self._stop = stop
        paced = PacedMessenger(self, self._interaction.channel_id or 0, self._pacer)
        return streaming(paced, self._edit_interval)

    async def menu(self, menu: Menu) -> None:
        await self.text(menu.as_text(), private=True)

    drafts = False  # Discord has no drafts: progress is sent and edited

    async def draft(self, text: str) -> None:  # pragma: no cover - `drafts` is False
        raise NotImplementedError

    async def send(self, text: str, *, private: bool = False, final: bool = True) -> Any:
        """Messenger for the streaming loop: fill the deferred response, then add follow-ups."""
        private = private or not self._public  # follow-ups to a private command stay private too
        view = stop_view(self._stop, final)
        if not self._expired:
            try:
                if self._original_pending:
                    await self._interaction.edit_original_response(content=text, view=view)
                    self._original_pending = False
                    return ORIGINAL
                return await self._interaction.followup.send(
                    text, ephemeral=private, wait=True, **with_view(view)
                )
            except discord.HTTPException as exc:
                self._expire(exc)
        posted = await self._post(text, private=private, view=view)
        self._moved[posted] = posted  # edited as what it is: an ordinary message
        return posted

    async def edit(self, handle: Any, text: str, *, final: bool = True) -> None:
        view = stop_view(self._stop, final)  # None on the final text: the button goes
        if handle in self._moved:
            await self._moved[handle].edit(content=text, view=view)
            return
        if not self._expired:
            try:
                if handle is ORIGINAL:
                    await self._interaction.edit_original_response(content=text, view=view)
                else:
                    await handle.edit(content=text, view=view)
                return
            except discord.HTTPException as exc:
                self._expire(exc)
        # The interaction message keeps what it showed; its text continues in a message of our own.
        private = not self._public if handle is ORIGINAL else bool(handle.flags.ephemeral)
        self._moved[handle] = await self._post(text, private=private, view=view)

    async def finish(self) -> None:
        """Withdraw the deferred response if nothing was said into it (a silent refusal, a dropped
        command), so the asker is not left with "thinking…" until the token dies."""
        if self._original_pending and not self._expired:
            self._original_pending = False
            await self._interaction.delete_original_response()

    def _expire(self, exc: discord.HTTPException) -> None:
        if not token_expired(exc):
            raise exc
        if not self._expired:
            log.warning("discord: interaction token expired; continuing the answer as messages")
        self._expired = True

    async def _post(
        self, text: str, *, private: bool, view: discord.ui.View | None = None
    ) -> discord.Message:
        """An ordinary message, sent with the bot's token: a DM when private, else in the channel."""
        if private:
            return await self._interaction.user.send(text, **with_view(view))
        channel = self._interaction.client.get_partial_messageable(
            self._interaction.channel_id or 0, guild_id=self._interaction.guild_id
        )
        return await channel.send(text, **with_view(view))

    async def _withdraw_original(self) -> None:
        # A deferred response keeps the visibility it was deferred with, and the first follow-up after a
        # defer lands in it. So complete it, delete it, and let the private line go out as an ephemeral
        # follow-up (flags 64) that only the asker sees.
        try:
            await self._interaction.edit_original_response(content=PLACEHOLDER)
            self._original_pending = False
            await self._interaction.delete_original_response()
        except discord.HTTPException as exc:
            self._expire(exc)


# ---------------------------------------------------------------- answering a message


SENT_DM = N_("I've sent you a DM.")
NO_DM = N_(
    "I couldn't send you a DM (your privacy settings don't allow it): "
    "ask me in a DM, or with a slash command, for an answer only you can see."
)


class MessageReply:
    """Answers a DM, mention or reply: the first message replies to the question, the rest follow it.

    A message can't be answered ephemerally, so in a guild channel a private line (a refusal that
    concerns only the asker) goes to the asker's DMs instead, and the channel gets one short pointer.
    """

    def __init__(
        self, message: discord.Message, *, edit_interval: float = 1.0, pacer: Pacer | None = None
    ) -> None:
        self._message = message
        self._pacer = pacer or Pacer()
        self._replied = False
        self._edit_interval = edit_interval
        self._pointed = False  # the channel was told once where the private lines went
        self._stop: str | None = None  # the streamed answer's id for its Stop button

    async def text(self, text: str, *, private: bool = False) -> None:
        if private and self._message.guild is not None:
            await self._whisper(text)
            return
        for chunk in split_text(text, LIMIT, discord_length):
            await self.send(chunk)

    async def _whisper(self, text: str) -> None:
        """A private line never reaches the channel: a DM to the asker, or (DMs closed) only a pointer."""
        try:
            for chunk in split_text(text, LIMIT, discord_length):
                await self._message.author.send(chunk)
            note = _(SENT_DM)  # in the asker's language: the core set it for this message
        except discord.Forbidden:  # 50007: the person accepts no DMs from this server's members
            note = _(NO_DM)
        if not self._pointed:
            self._pointed = True
            await self.send(note)

    def stream(self, stop: str | None = None) -> StreamingAnswer:
        self._stop = stop
        paced = PacedMessenger(self, self._message.channel.id, self._pacer)
        return streaming(paced, self._edit_interval)

    async def menu(self, menu: Menu) -> None:
        await self.text(menu.as_text())

    drafts = False  # Discord has no drafts: progress is sent and edited

    async def draft(self, text: str) -> None:  # pragma: no cover - `drafts` is False
        raise NotImplementedError

    async def send(self, text: str, *, final: bool = True) -> discord.Message:
        channel = self._message.channel
        view = with_view(stop_view(self._stop, final))
        if self._replied:
            return await channel.send(text, **view)
        self._replied = True
        return await channel.send(
            text, reference=self._message.to_reference(fail_if_not_exists=False), **view
        )

    async def edit(self, handle: discord.Message, text: str, *, final: bool = True) -> None:
        await handle.edit(content=text, view=stop_view(self._stop, final))
