"""Which Discord messages are for the bot, what they say, and whose they are.

In a DM every message is for the bot; in a guild channel only one that mentions it (or its role) or
replies to it. Each person's conversation in each channel is their own (`discord:<channel>:<user>`), paid
by their identity `discord:<user id>`.
"""

from __future__ import annotations

import re

import discord

from adapters.handoff import KnownCommands
from bot.incoming import Attachment, Incoming

CHAT_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)  # not joins, pins, ...


def identity(user: discord.abc.User) -> str:
    return f"discord:{user.id}"


def conversation_key(channel_id: int | None, user_id: int) -> str:
    """One conversation per person per channel."""
    return f"discord:{channel_id}:{user_id}"


def incoming_from(
    user: discord.abc.User,
    channel_id: int | None,
    text: str,
    *,
    direct: bool,
    private: bool,
    language: str | None,
    replied: int | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> Incoming:
    """What `user` said in channel `channel_id`, for the core: who (identity, @name, display name), in
    which of their conversations, in what language, and whose message (`replied`, a user id) it answers."""
    return Incoming(
        user=identity(user),
        conversation=conversation_key(channel_id, user.id),
        text=text,
        direct=direct,
        private=private,
        username=f"@{user.name}",
        display_name=user.display_name,
        language=language,
        reply_to_user=f"discord:{replied}" if replied else None,
        attachments=attachments,
    )


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


def message_language(message: discord.Message) -> str | None:
    """A plain message carries no locale of its author: the guild's preferred one says the most (a DM:
    nothing, and the core falls back to DEFAULT_LANGUAGE)."""
    return message.guild.preferred_locale.value if message.guild else None


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
    return referenced_author(message) == me.id


def referenced_author(message: discord.Message) -> int | None:
    reference = message.reference
    if reference is None:
        return None
    target = (
        reference.resolved if isinstance(reference.resolved, discord.Message) else reference.cached_message
    )
    return target.author.id if target is not None else None
