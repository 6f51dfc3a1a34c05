"""What comes in from Discord: the client, its slash commands, DMs, mentions and replies, and `run`.

A slash command is deferred at once (Discord allows three seconds) and becomes an `Incoming`
("/ask <prompt>", "/model <id>", ...) that the core answers through an `InteractionReply`; a message in a
DM, or one that mentions or replies to the bot in a guild channel, goes the same way with a
`MessageReply`, with its image and audio attachments downloaded (`media`). The slash commands are
built from the core's declarations: a command's argument is its one option, a streaming command is
answered publicly, an owner command is shown to server admins.

One person's messages and commands are answered in turn through a bounded queue of their own
(`adapters.person_queues`), and each is claimed first, so one replayed after a reconnect or a restart is
answered once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord_bot.media import download, replied_images
from adapters.discord_bot.pacing import Pacer
from adapters.discord_bot.replies import STOP_PREFIX, InteractionReply, MessageReply
from adapters.discord_bot.translator import DESCRIPTION_CHARS, CatalogTranslator
from adapters.handoff import ChatCore, Handoff, KnownCommands, short
from adapters.media import file_line
from adapters.person_queues import PersonQueues
from bot.config import ConfigError, Settings
from bot.incoming import Attachment, CommandInfo, Incoming
from bot.refusals import FileNotTaken
from bot.startup import unreachable

log = logging.getLogger("adapters.discord_bot")  # one logger for the whole adapter
# capbot never joins a voice channel: the warnings about discord.py's optional voice libraries are noise
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False
answer = Handoff("discord", discord.HTTPException, log).answer

MAX_CHOICES = 25  # Discord's cap on autocomplete choices
CHOICE_CHARS = 100  # Discord's cap on a choice's name and value
CHAT_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)  # not joins, pins, ...
VALID_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")


def identity(user: discord.abc.User) -> str:
    return f"discord:{user.id}"


def conversation_key(channel_id: int | None, user_id: int) -> str:
    """One conversation per person per channel."""
    return f"discord:{channel_id}:{user_id}"


def addressed_text(message: discord.Message, me: discord.ClientUser) -> str | None:
    """The text of a message meant for the bot (mention removed), or None when it is not for the bot
    (or is a DM with neither text nor a file). With files it may be empty: the files are the question."""
    if message.guild is None:
        return message.content.strip() if message.content.strip() or message.attachments else None
    # People often pick the bot's own role from the mention list instead of the bot; that counts too.
    own_roles = [r for r in message.role_mentions if r.tags is not None and r.tags.bot_id == me.id]
    if me in message.mentions or own_roles or _replies_to(message, me):
        text = message.content
        for mention in (f"<@{me.id}>", f"<@!{me.id}>", *(f"<@&{r.id}>" for r in own_roles)):
            text = text.replace(mention, "")
        return text.strip()  # empty for a bare mention: the core then says what it can do
    return None


def one_to_one(channel: object) -> bool:
    """Whether a channel is a DM with the bot: the only place where nobody else reads its answers.

    A slash command in a guild channel is answered ephemerally, but it is still a guild channel: link
    codes are issued only in DMs, one rule for both platforms that depends on no response's visibility.
    """
    return getattr(channel, "type", None) == discord.ChannelType.private


USER_MENTION = re.compile(r"<@!?(\d+)>")


def people_named(command: str, commands: KnownCommands) -> str:
    """A command with Discord's user mentions (`<@123>`, what picking @bob inserts) as `discord:123`.

    Owner commands name people as `platform:id`; a question keeps its text as written.
    """
    if commands.streams(command, direct=True):
        return command
    return USER_MENTION.sub(r"discord:\1", command)


def _replies_to(message: discord.Message, me: discord.ClientUser) -> bool:
    return _referenced_author(message) == me.id


def _referenced_author(message: discord.Message) -> int | None:
    reference = message.reference
    if reference is None:
        return None
    target = (
        reference.resolved if isinstance(reference.resolved, discord.Message) else reference.cached_message
    )
    return target.author.id if target is not None else None


# ---------------------------------------------------------------- the client


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
        _add_commands(self)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogTranslator())  # description_localizations, before any sync
        if not self.guild_ids:
            try:
                synced = await self.tree.sync()
                log.info("discord: %d slash commands synced globally (may take a while to show)", len(synced))
            except discord.HTTPException as exc:
                log.warning("discord: could not sync slash commands: %s", short(exc))
            return
        for guild_id in self.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
                log.info("discord: %d slash commands synced to guild %s", len(synced), guild_id)
            except discord.HTTPException as exc:
                log.warning("discord: could not sync slash commands to guild %s: %s", guild_id, short(exc))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or message.type not in CHAT_MESSAGES:
            return
        text = addressed_text(message, self.user)
        if text is None:
            return

        async def dropped(first: bool) -> None:
            if first:
                locale = message.guild.preferred_locale.value if message.guild else None
                notice = self.queues.notice(self.core.client_language(locale))
                await _quietly(MessageReply(message).text(notice), message.author)

        await self.queues.run(message.author.id, self._answer_message(message, text), dropped)

    async def _answer_message(self, message: discord.Message, text: str) -> None:
        """In the author's turn: a message seen before (replayed on a reconnect) is not answered again."""
        if not await self.core.claim(f"discord:message:{message.id}"):
            return
        attachments: tuple[Attachment, ...] = ()
        files = message.attachments or replied_images(message)
        if files:
            try:
                attachments = await download(files, self.max_media_mb)
            except FileNotTaken as refused:  # one line, and the core never hears of it
                await _quietly(MessageReply(message).text(file_line(refused)), message.author)
                return
        reference_author = _referenced_author(message)
        incoming = Incoming(
            user=identity(message.author),
            conversation=conversation_key(message.channel.id, message.author.id),
            text=people_named(text, self.commands),
            direct=True,
            private=one_to_one(message.channel),
            username=f"@{message.author.name}",
            display_name=message.author.display_name,
            reply_to_user=f"discord:{reference_author}" if reference_author else None,
            attachments=attachments,
            # a plain message carries no locale of its author: the guild's preferred one says the most
            language=message.guild.preferred_locale.value if message.guild else None,
        )
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
        line = self.core.stop(
            custom_id.removeprefix(STOP_PREFIX),
            by=identity(interaction.user),
            language=interaction.locale.value,
        )
        try:
            await interaction.response.send_message(line, ephemeral=True)
        except discord.HTTPException as exc:
            log.info("discord: could not answer a Stop press: %s", short(exc))

    async def answer_slash(self, interaction: discord.Interaction, command: CommandInfo, value: str) -> None:
        """A slash command as the core reads it, "/name value"; public when it streams an answer."""
        text = people_named(f"/{command.name} {value}".strip(), self.commands)
        await self.answer_interaction(interaction, text, public=command.streams)

    async def answer_interaction(self, interaction: discord.Interaction, text: str, *, public: bool) -> None:
        """Defer at once (Discord allows three seconds), then let the core answer into the deferred
        response in the person's turn. An interaction seen before is left alone; one deferred joins its
        person's queue then, so it may follow a message of theirs that arrived a moment later."""
        if not await self.core.claim(f"discord:interaction:{interaction.id}"):
            return
        try:
            await interaction.response.defer(ephemeral=not public, thinking=True)
        except discord.HTTPException as exc:  # the 3-second window passed, or Discord is unreachable
            log.warning("discord: could not acknowledge %s: %s", text.split(" ", 1)[0], short(exc))
            return
        user = interaction.user
        incoming = Incoming(
            user=identity(user),
            conversation=conversation_key(interaction.channel_id, user.id),
            text=text,
            direct=interaction.guild_id is None,
            private=interaction.guild_id is None and one_to_one(interaction.channel),
            username=f"@{user.name}",
            display_name=user.display_name,
            language=interaction.locale.value,  # the person's client language
        )
        reply = InteractionReply(
            interaction, public=public, edit_interval=self.edit_interval, pacer=self.pacer
        )

        async def respond() -> None:
            await answer(self.core, incoming, reply)
            await _quietly(reply.finish(), user)  # a silent refusal leaves no "thinking…" behind

        async def dropped(first: bool) -> None:
            notice = self.queues.notice(self.core.client_language(interaction.locale.value))
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


def _add_commands(client: CapbotClient) -> None:
    """One slash command per core command; a greeting (/start) is for clients that send one themselves."""
    for command in client.core.command_list(owner=True):
        if not command.greeting and VALID_NAME.match(command.name):
            client.tree.add_command(_slash_command(client, command))


def _slash_command(client: CapbotClient, command: CommandInfo) -> app_commands.Command[Any, Any, None]:
    """The command's declared argument becomes its one option (named as declared; `value` in Python)."""

    async def bare(interaction: discord.Interaction) -> None:
        await client.answer_slash(interaction, command, "")

    async def required(interaction: discord.Interaction, value: str) -> None:
        await client.answer_slash(interaction, command, value)

    async def optional(interaction: discord.Interaction, value: str | None = None) -> None:
        await client.answer_slash(interaction, command, value or "")

    argument = command.argument
    callback: Callable[..., Coroutine[Any, Any, None]] = bare
    if argument is not None:
        callback = required if argument.required else optional
        callback = app_commands.describe(value=argument.description)(callback)
        callback = app_commands.rename(value=argument.name)(callback)
    if command.owner_only:  # hidden from members who are not server admins; the core checks OWNER_IDS anyway
        callback = app_commands.default_permissions(administrator=True)(callback)
    description = (command.summary or command.name)[:DESCRIPTION_CHARS]
    slash: app_commands.Command[Any, Any, None] = app_commands.Command(
        name=command.name, description=description, callback=callback
    )
    if argument is not None and argument.offers_models:
        slash.autocomplete("value")(_model_choices(client.core))
    return slash


def _model_choices(
    core: ChatCore,
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    """Autocomplete from the core's priced models, within Discord's caps."""

    async def autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            found = core.model_choices(current)
        except Exception as exc:
            log.warning("discord: model choices failed: %s", short(exc))
            return []
        return [
            app_commands.Choice(name=label[:CHOICE_CHARS], value=model_id)
            for label, model_id in found
            if len(model_id) <= CHOICE_CHARS
        ][:MAX_CHOICES]

    return autocomplete


def _guild_ids(settings: Settings) -> list[int]:
    return [int(raw) for raw in settings.discord_guild_ids]  # digits only: checked when settings load


def point_at(settings: Settings) -> None:
    """Aim discord.py at `DISCORD_API_BASE_URL` and `DISCORD_GATEWAY_URL` (process-wide, as the library is).

    A plain `discord.Client`, and an `AutoShardedClient` told its shard count (as `shard_options` always
    does), connect to `DiscordWebSocket.DEFAULT_GATEWAY` (only a sharded client without a count asks
    GET /gateway/bot, and would then connect wherever Discord says) and resume at the
    `resume_gateway_url` the READY event names.
    """
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class ShardedCapbotClient(CapbotClient, discord.AutoShardedClient):
    """The same bot over one gateway connection per shard (`DISCORD_SHARD_COUNT`, `DISCORD_SHARD_IDS`).

    Only the connections differ: discord.py routes each shard's events into the one set of handlers
    above, so a sharded process answers exactly as a plain one does, for the guilds its shards hold.
    """


def shard_options(settings: Settings) -> dict[str, Any]:
    """`AutoShardedClient`'s options, or none for one plain connection (neither variable set).

    The count is always given when sharding: without it discord.py asks Discord for a recommended count,
    which processes started apart could disagree on, and connects where Discord says, not where
    `DISCORD_GATEWAY_URL` points.
    """
    count = settings.discord_shard_count
    if count is None:
        return {}
    return {"shard_count": count, "shard_ids": list(settings.discord_shard_ids) or None}


def build_client(
    core: ChatCore, settings: Settings, *, message_content: bool = True, edit_interval: float = 1.0
) -> CapbotClient:
    point_at(settings)
    shards = shard_options(settings)
    kind = ShardedCapbotClient if shards else CapbotClient
    return kind(core, settings, message_content=message_content, edit_interval=edit_interval, **shards)


async def run(core: ChatCore, settings: Settings) -> None:
    """Run the Discord bot until cancelled, then close the connection cleanly."""
    token = settings.secret("DISCORD_BOT_TOKEN")
    if not token:
        raise ConfigError("DISCORD_BOT_TOKEN: required to run the Discord bot")
    count = settings.discord_shard_count
    if count is not None:
        ids = settings.discord_shard_ids or range(count)
        log.info("discord: running shard(s) %s of %d", ", ".join(map(str, ids)), count)
    for message_content in (True, False):
        client = build_client(core, settings, message_content=message_content)
        try:
            async with client:
                await client.start(token)
            return
        except discord.LoginFailure:
            raise ConfigError("DISCORD_BOT_TOKEN: Discord rejected the token") from None
        except (OSError, aiohttp.ClientError) as exc:  # only before login: the client reconnects by itself
            url = settings.discord_api_base_url
            raise unreachable("Discord", url, settings, "DISCORD_API_BASE_URL", short(exc)) from None
        except discord.PrivilegedIntentsRequired:
            log.warning(
                "discord: the Message Content intent is not enabled for this bot; running without it "
                "(slash commands, DMs and mentions still work). Enable it in the Developer Portal → Bot."
            )
