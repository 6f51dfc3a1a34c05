"""The Discord adapter in simcord's in-memory Discord: autocomplete, ephemerality and follow-ups as
Discord's own interaction rules see them (simcord refuses what Discord would refuse)."""

from __future__ import annotations

import discord
import pytest
import simcord

from adapters.discord_bot import LIMIT, build_client
from bot.config import Settings
from bot.incoming import Incoming, Reply
from tests.doubles import TrackingCore
from tests.fakes.discord_api import TOKEN
from tests.fakes.discord_fixtures import ScriptedCore


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)
    return Settings(discord_bot_token=TOKEN)


async def script(incoming: Incoming, reply: Reply) -> None:
    if incoming.text.startswith("/ask broke"):
        await reply.text("You have reached your cap of $1.00 this month.", private=True)
    elif incoming.text.startswith("/ask long"):
        async with reply.stream() as out:
            for i in range(300):
                await out.write(f"Sentence number {i} of a long answer.\n")
    elif incoming.text.startswith("/ask"):
        async with reply.stream() as out:
            await out.write("Hello ")
            await out.write("world.")
    else:
        await reply.text(f"{incoming.text} done")


@pytest.fixture
def simcord_bot(settings: Settings) -> discord.Client:
    """simcord's pytest plugin runs this client as `simcord_env`."""
    return build_client(TrackingCore(ScriptedCore(script)), settings, edit_interval=0)


async def test_autocomplete_is_capped_filtered_and_priced(simcord_env: simcord.Env) -> None:
    channel = simcord_env.create_guild().create_text_channel("general")
    alice = simcord_env.guild.add_member(simcord_env.create_user("alice"))
    assert len(await alice.autocomplete(channel, "model", "model", "")) == 25
    choices = await alice.autocomplete(channel, "model", "model", "prov3")
    assert [c["value"] for c in choices] == [f"prov3/model-{i}" for i in range(30, 40)]
    assert all(" — $" in c["name"] for c in choices)


async def test_ask_answers_publicly_and_spend_privately(simcord_env: simcord.Env) -> None:
    channel = simcord_env.create_guild().create_text_channel("general")
    bob = simcord_env.guild.add_member(simcord_env.create_user("bob"))
    asked = await bob.slash(channel, "ask", prompt="hi")
    assert asked.acknowledged
    assert not asked.ephemeral
    assert asked.response is not None and asked.response.content == "Hello world."
    spent = await bob.slash(channel, "spend")
    assert spent.ephemeral
    assert spent.response is not None and spent.response.content == "/spend done"


async def test_cap_refusal_reaches_only_the_asker(simcord_env: simcord.Env) -> None:
    channel = simcord_env.create_guild().create_text_channel("general")
    carol = simcord_env.guild.add_member(simcord_env.create_user("carol"))
    erin = simcord_env.guild.add_member(simcord_env.create_user("erin"))
    result = await carol.slash(channel, "ask", prompt="broke me")
    assert result.response is None  # the public placeholder was withdrawn
    (line,) = result.followups
    assert line.ephemeral and line.flags.ephemeral
    assert line.content == "You have reached your cap of $1.00 this month."
    assert [m.content for m in channel.history(viewer=carol)] == [line.content]
    assert channel.history(viewer=erin) == []  # nobody else sees anything


async def test_a_long_answer_continues_in_followups(simcord_env: simcord.Env) -> None:
    channel = simcord_env.create_guild().create_text_channel("general")
    dan = simcord_env.guild.add_member(simcord_env.create_user("dan"))
    result = await dan.slash(channel, "ask", prompt="long")
    assert result.response is not None
    chunks = [result.response.content, *(f.content for f in result.followups)]
    assert len(chunks) > 1 and all(len(c) <= LIMIT for c in chunks)
    expected = "".join(f"Sentence number {i} of a long answer.\n" for i in range(300))
    assert "\n".join(chunks).strip().split("\n") == expected.strip().split("\n")  # every line, in order
