"""Starting the Discord client: where it connects, how it is sharded, and `run`.

`run` retries once without the Message Content intent when the bot lacks it (slash commands, DMs and
mentions still work), and turns a rejected token or an unreachable API into one line naming the setting.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
import yarl

from adapters.discord_bot.client import CapbotClient
from adapters.handoff import ChatCore, short
from bot.config import ConfigError, Settings
from bot.startup import unreachable

log = logging.getLogger("adapters.discord_bot")  # one logger for the whole adapter


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

    Only the connections differ: discord.py routes each shard's events into `CapbotClient`'s one set of
    handlers, so a sharded process answers exactly as a plain one does, for the guilds its shards hold.
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
