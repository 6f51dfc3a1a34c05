"""Discord: slash commands, DMs, mentions and replies to the bot, answered through the core.

One flow, top to bottom: a slash command is deferred at once (Discord allows three seconds), becomes an
`Incoming` ("/ask <prompt>", "/model <id>", ...) and the core answers through an `InteractionReply`,
which streams into the deferred response and continues in follow-ups past 2,000 characters. A message in
a DM, or one that mentions or replies to the bot in a guild channel, goes the same way with a
`MessageReply`. Each person's conversation in each channel is their own, paid by their identity
`discord:<user id>`.

Ephemerality is fixed when an interaction is deferred: a command declared as streaming an answer (/ask)
is deferred publicly (its answer is for the channel), every other command privately (its answer concerns
only the asker, follow-ups included). A
line the core marks private under a public /ask (cap reached, rate limited, ...) replaces the public
placeholder with an ephemeral follow-up. An answer that outlives the interaction's 15-minute token
continues as ordinary messages (see `replies`). A mention can't be answered ephemerally: in a guild
channel its private lines go to the asker's DMs, with a one-line pointer in the channel. Link codes are
issued only in DMs (`Incoming.private`).

Image and audio attachments (voice messages too) on a message for the bot, and /ask's attachment option,
are downloaded within MAX_MEDIA_MB and handed to the core with it (`media`).

Modules: `addressing` (which messages are for the bot), `client` (the events it answers), `slash` (the
command tree built from the core's declarations, and its sync), `translator` (their descriptions in each
language), `media` (attachments), `replies` (how answers go out), `pacing` (this token's write budgets),
`launch` (gateway, shards and `run`).
"""

from adapters.discord_bot.addressing import addressed_text, conversation_key, identity, people_named
from adapters.discord_bot.client import CapbotClient, answer
from adapters.discord_bot.launch import ShardedCapbotClient, build_client, point_at, run, shard_options
from adapters.discord_bot.replies import (
    LIMIT,
    ORIGINAL,
    PLACEHOLDER,
    InteractionReply,
    MessageReply,
    discord_length,
    token_expired,
)
from adapters.handoff import ChatCore, short

__all__ = [
    "LIMIT",
    "ORIGINAL",
    "PLACEHOLDER",
    "CapbotClient",
    "ChatCore",
    "InteractionReply",
    "MessageReply",
    "ShardedCapbotClient",
    "addressed_text",
    "answer",
    "build_client",
    "conversation_key",
    "discord_length",
    "identity",
    "people_named",
    "point_at",
    "run",
    "shard_options",
    "short",
    "token_expired",
]
