"""Discord shards: `DISCORD_SHARD_COUNT` and `DISCORD_SHARD_IDS` split one bot's guilds between processes.

Each process here is a real discord.py client in this test process (discord.py's URLs are process-wide,
and both point at the one fake Discord), with its own stand-in core, so who answered is who handled it.
The fake routes each guild's events to the shard Discord would, `(guild_id >> 22) % shard_count`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from adapters.discord_bot import CapbotClient, ShardedCapbotClient, build_client, run, shard_options
from bot.config import Settings, load_settings
from bot.incoming import Incoming, Reply
from tests.doubles import TrackingCore
from tests.fakes.discord_api import APP_ID, GUILD_ID, GUILD_STEP, TOKEN, FakeDiscord
from tests.fakes.discord_fixtures import ScriptedCore, running_bot
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.processes import bot_process, process_environment

OTHER_GUILD = GUILD_ID + GUILD_STEP  # the next shard's guild: with two shards, GUILD_ID is on 0, this on 1
DM_CHANNEL = 940_000_000_000_000_002


def sharded(base: Settings, **env: str) -> Settings:
    """`base` with shard variables as the environment gives them (strings), validated as at start-up."""
    plain = {
        "discord_bot_token": base.secret("DISCORD_BOT_TOKEN"),
        "discord_guild_ids": ",".join(base.discord_guild_ids),
        "discord_api_base_url": base.discord_api_base_url,
        "discord_gateway_url": base.discord_gateway_url,
        "database_url": base.database_url,
    }
    return load_settings(_env_file=None, **plain, **env)


def answering_as(name: str) -> TrackingCore:
    async def script(incoming: Incoming, reply: Reply) -> None:
        await reply.text(f"{name} here")

    return TrackingCore(ScriptedCore(script))


async def test_shards_split_guilds(fake_discord: FakeDiscord, discord_settings: Settings) -> None:
    fake_discord.guild_ids = [GUILD_ID, OTHER_GUILD]
    first = sharded(discord_settings, discord_shard_count="2", discord_shard_ids="0")
    second = sharded(discord_settings, discord_shard_count="2", discord_shard_ids="1")
    core_0, core_1 = answering_as("shard 0"), answering_as("shard 1")
    async with contextlib.AsyncExitStack() as processes:
        client_0 = await processes.enter_async_context(running_bot(core_0, first, fake_discord))
        client_1 = await processes.enter_async_context(running_bot(core_1, second, fake_discord))
        await fake_discord.connected(shards=2)
        assert [fake_discord.shard_of(g) for g in (GUILD_ID, OTHER_GUILD)] == [0, 1]
        ann, ben, cy = fake_discord.user(61, "ann"), fake_discord.user(62, "ben"), fake_discord.user(63, "cy")
        for who, guild_id in ((ann, GUILD_ID), (ben, OTHER_GUILD)):
            channel = fake_discord.channel_of(guild_id)
            asked = fake_discord.message(who, f"<@{APP_ID}> hi", channel=channel, mentions=[fake_discord.bot])
            await fake_discord.dispatch("MESSAGE_CREATE", asked)
        await fake_discord.dispatch("MESSAGE_CREATE", fake_discord.message(cy, "hi", channel=DM_CHANNEL))
        await core_0.wait_handled(2)
        await core_1.wait_handled(1)
        assert isinstance(client_0, ShardedCapbotClient) and isinstance(client_1, ShardedCapbotClient)
        assert (set(client_0.shards), set(client_1.shards)) == ({0}, {1})
        assert ([g.id for g in client_0.guilds], [g.id for g in client_1.guilds]) == (
            [GUILD_ID],
            [OTHER_GUILD],
        )
    assert sorted(identify["shard"] for identify in fake_discord.identifies) == [[0, 2], [1, 2]]
    # each mention answered once, by the process holding its guild's shard; a DM by shard 0's
    assert sorted(i.user for i in core_0.handled) == ["discord:61", "discord:63"]
    assert [i.user for i in core_1.handled] == ["discord:62"]
    assert fake_discord.posted(fake_discord.channel_of(GUILD_ID)) == ["shard 0 here"]
    assert fake_discord.posted(fake_discord.channel_of(OTHER_GUILD)) == ["shard 1 here"]
    assert fake_discord.posted(DM_CHANNEL) == ["shard 0 here"]


async def test_without_shard_settings_the_client_is_plain(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    async with running_bot(answering_as("plain"), discord_settings, fake_discord) as client:
        assert type(client) is CapbotClient
    (identify,) = fake_discord.identifies
    assert "shard" not in identify  # one connection holding every guild, as before sharding existed


def test_a_count_alone_runs_every_shard_in_this_process(discord_settings: Settings) -> None:
    settings = sharded(discord_settings, discord_shard_count="3")
    assert shard_options(settings) == {"shard_count": 3, "shard_ids": None}  # discord.py: 0 to count - 1
    client = build_client(answering_as("all"), settings)
    assert isinstance(client, ShardedCapbotClient)
    assert (client.shard_count, client.shard_ids) == (3, None)


async def test_run_says_which_shards_it_runs(
    fake_discord: FakeDiscord, discord_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A count alone: every shard, here the only one (more would wait out Discord's 5 s between IDENTIFYs)."""
    settings = sharded(discord_settings, discord_shard_count="1")
    with caplog.at_level(logging.INFO, logger="adapters.discord_bot"):
        task = asyncio.create_task(run(answering_as("all"), settings))
        await fake_discord.connected()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert "discord: running shard(s) 0 of 1" in caplog.messages
    assert [identify["shard"] for identify in fake_discord.identifies] == [[0, 1]]


async def test_two_bot_processes_answer_their_own_shards_guilds(
    fake_openai: FakeOpenAI, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """As an owner deploys it: `python -m bot discord` twice, one shard each, sharing one database."""
    fake_openai.default = Script(text="An answer from the fake model.")
    fake_discord.guild_ids = [GUILD_ID, OTHER_GUILD]
    env = process_environment(
        DISCORD_BOT_TOKEN=TOKEN,
        DISCORD_API_BASE_URL=fake_discord.api_base,
        DISCORD_GATEWAY_URL=fake_discord.gateway_url,
        DISCORD_SHARD_COUNT="2",
        OPENAI_API_KEY="sk-shard-test-key",
        OPENAI_BASE_URL=fake_openai.url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'capbot.db'}",
    )
    secret = ("sk-shard-test-key",)
    async with contextlib.AsyncExitStack() as processes:
        for shard in ("0", "1"):
            workdir = tmp_path / f"shard-{shard}"
            workdir.mkdir()
            env_of_shard = env | {"DISCORD_SHARD_IDS": shard}
            await processes.enter_async_context(
                bot_process("discord", workdir, env_of_shard, never_logged=secret)
            )
        # two interpreters importing discord.py and opening one database side by side: slow on a busy CI
        await fake_discord.connected(shards=2, limit=60)
        for user_id, guild_id in ((71, GUILD_ID), (72, OTHER_GUILD)):
            who, channel = fake_discord.user(user_id, f"user{user_id}"), fake_discord.channel_of(guild_id)
            asked = fake_discord.message(
                who, f"<@{APP_ID}> hello?", channel=channel, mentions=[fake_discord.bot]
            )
            await fake_discord.dispatch("MESSAGE_CREATE", asked)

        def answered() -> bool:
            posts = [fake_discord.posted(fake_discord.channel_of(g)) for g in (GUILD_ID, OTHER_GUILD)]
            return all(p and "fake model" in p[-1] for p in posts)

        await fake_discord.wait_for(answered, "an answer in each guild", limit=30)
    assert sorted(identify["shard"] for identify in fake_discord.identifies) == [[0, 2], [1, 2]]
    for guild_id in (GUILD_ID, OTHER_GUILD):  # once each: only the shard holding the guild heard it
        assert len(fake_discord.channel_posts(fake_discord.channel_of(guild_id))) == 1
    assert len(fake_openai.requests) == 2
