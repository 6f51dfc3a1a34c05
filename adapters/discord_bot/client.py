"""What comes in from Discord: the client, and its DMs, mentions, replies, slash commands and Stop presses.

A slash command (`slash`) is deferred at once (Discord allows three seconds) and becomes an `Incoming`
("/ask <prompt>", "/model <id>", ...) that the core answers through an `InteractionReply`, publicly when
the command streams an answer, with /ask's attachment downloaded in the person's turn (one of a kind the
bot can't read, or over MAX_MEDIA_MB by its declared size, is refused in one ephemeral line instead of
the deferral); a message for the bot (`addressing`) goes the same way with a `MessageReply`, with its
image and audio attachments downloaded (`media`).

One person's messages and commands are answered in turn through a bounded queue of their own
(`adapters.person_queues`), and each is claimed first, so one replayed after a reconnect or a restart is
answered once. A Stop press is never queued: it must not wait behind the answer it stops.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from adapters.discord_bot.addressing import (
    CHAT_MESSAGES,
    addressed_text,
    identity,
    incoming_from,
    message_language,
    one_to_one,
    people_named,
    referenced_author,
)
from adapters.discord_bot.media import check, download, replied_images
from adapters.discord_bot.pacing import Pacer
from adapters.discord_bot.replies import STOP_PREFIX, InteractionReply, MessageReply
from adapters.discord_bot.slash import slash_commands, sync_commands
from adapters.handoff import ChatCore, Handoff, KnownCommands, short
from adapters.media import file_line
from adapters.person_queues import PersonQueues
from bot.config import Settings
from bot.i18n import speaking
from bot.incoming import CommandInfo
from bot.refusals import FileNotTaken

log = logging.getLogger("adapters.discord_bot")  # one logger for the whole adapter
# capbot never joins a voice channel: the warnings about discord.py's optional voice libraries are noise
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False
answer = Handoff("discord", discord.HTTPException, log).answer


class CapbotClient(discord.Client):
    """discord.Client with capbot's command tree; `setup_hook` syncs the commands before connecting."""

    def __init__(
        self,
        core: ChatCore,
        settings: Settings,
        *,
        message_content: bool = True,
        edit_interval: float = 1.0,
        **shards: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        # Model output must never ping @everyone, roles or users. `shards`: `shard_options`, when sharded.
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **shards)
        self.core = core
        self.commands = KnownCommands(core.command_list(owner=True))
        self.guild_ids = _guild_ids(settings)
        self.edit_interval = edit_interval
        self.max_media_mb = settings.max_media_mb
        self.pacer = Pacer()  # this token's write budgets, for every reply's progress edits
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self.queues = PersonQueues()  # discord.py runs each event in a task of its own: one person's in order
        for command in slash_commands(core, self.answer_slash):
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        await sync_commands(self.tree, self.guild_ids)

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or message.type not in CHAT_MESSAGES:
            return
        text = addressed_text(message, self.user)
        if text is None:
            return

        async def dropped(first: bool) -> None:
            if first:
                notice = self.queues.notice(self.core.client_language(message_language(message)))
                await _quietly(MessageReply(message).text(notice), message.author)

        await self.queues.run(message.author.id, self._answer_message(message, text), dropped)

    async def _answer_message(self, message: discord.Message, text: str) -> None:
        """In the author's turn: a message seen before (replayed on a reconnect) is not answered again."""
        if not await self.core.claim(f"discord:message:{message.id}"):
            return
        incoming = incoming_from(
            message.author,
            message.channel.id,
            people_named(text, self.commands),
            direct=True,
            private=one_to_one(message.channel),
            language=message_language(message),
            replied=referenced_author(message),
        )
        files = message.attachments or replied_images(message)
        if files:
            try:
                incoming = replace(incoming, attachments=await download(files, self.max_media_mb))
            except FileNotTaken as refused:  # one line, and the core never hears of it
                async with self.core.speaking_to(incoming):
                    await _quietly(MessageReply(message).text(file_line(refused)), message.author)
                return
        await answer(
            self.core, incoming, MessageReply(message, edit_interval=self.edit_interval, pacer=self.pacer)
        )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A press on an answer's Stop button: handled at once, never queued behind the answer it stops;
        whoever pressed it gets one short line only they see."""
        if interaction.type is not discord.InteractionType.component:
            return  # slash commands and autocomplete are the command tree's
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id", "")
        if not isinstance(custom_id, str) or not custom_id.startswith(STOP_PREFIX):
            return
        line = await self.core.stop(
            custom_id.removeprefix(STOP_PREFIX),
            by=identity(interaction.user),
            language=interaction.locale.value,
        )
        try:
            await interaction.response.send_message(line, ephemeral=True)
        except discord.HTTPException as exc:
            log.info("discord: could not answer a Stop press: %s", short(exc))

    async def answer_slash(
        self,
        interaction: discord.Interaction,
        command: CommandInfo,
        value: str,
        file: discord.Attachment | None = None,
    ) -> None:
        """A slash command as the core reads it, "/name value" (and /ask's file); public when it streams
        an answer."""
        text = people_named(f"/{command.name} {value}".strip(), self.commands)
        files = (file,) if file is not None else ()
        await self.answer_interaction(interaction, text, public=command.streams, files=files)

    async def answer_interaction(
        self,
        interaction: discord.Interaction,
        text: str,
        *,
        public: bool,
        files: tuple[discord.Attachment, ...] = (),
    ) -> None:
        """Defer at once (Discord allows three seconds), then let the core answer into the deferred
        response in the person's turn, `files` downloaded first. An interaction seen before is left alone;
        one deferred joins its person's queue then, so it may follow a message of theirs that arrived a
        moment later. A file refused by what Discord declares of it (its kind, its size) is one ephemeral
        line in place of the deferral: nothing downloaded, the core never asked."""
        if not await self.core.claim(f"discord:interaction:{interaction.id}"):
            return
        language = self.core.client_language(interaction.locale.value)
        try:
            check(files, self.max_media_mb)
        except FileNotTaken as refused:
            with speaking(language):
                line = file_line(refused)
            try:
                await interaction.response.send_message(line, ephemeral=True)
            except discord.HTTPException as exc:
                log.info("discord: could not refuse a file to %s: %s", identity(interaction.user), short(exc))
            return
        try:
            await interaction.response.defer(ephemeral=not public, thinking=True)
        except discord.HTTPException as exc:  # the 3-second window passed, or Discord is unreachable
            log.warning("discord: could not acknowledge %s: %s", text.split(" ", 1)[0], short(exc))
            return
        user = interaction.user
        reply = InteractionReply(
            interaction, public=public, edit_interval=self.edit_interval, pacer=self.pacer
        )

        async def respond() -> None:
            try:
                attachments = await download(files, self.max_media_mb) if files else ()
            except FileNotTaken as refused:  # the download failed: one line only the asker sees
                with speaking(language):
                    await _quietly(reply.text(file_line(refused), private=True), user)
                return
            incoming = incoming_from(
                user,
                interaction.channel_id,
                text,
                direct=interaction.guild_id is None,
                private=interaction.guild_id is None and one_to_one(interaction.channel),
                language=interaction.locale.value,  # the person's client language
                attachments=attachments,
            )
            await answer(self.core, incoming, reply)
            await _quietly(reply.finish(), user)  # a silent refusal leaves no "thinking…" behind

        async def dropped(first: bool) -> None:
            notice = self.queues.notice(language)
            await _quietly(reply.text(notice, private=True) if first else reply.finish(), user)

        await self.queues.run(user.id, respond(), dropped)

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.warning("discord: slash command failed: %s", short(error.__cause__ or error))


async def _quietly(call: Awaitable[None], user: discord.abc.User) -> None:
    """A courtesy call (a drop notice, withdrawing an empty response): failing it is one log line."""
    try:
        await call
    except discord.HTTPException as exc:
        log.info("discord: could not finish a response to %s: %s", identity(user), short(exc))


def _guild_ids(settings: Settings) -> list[int]:
    return [int(raw) for raw in settings.discord_guild_ids]  # digits only: checked when settings load
