"""Discord end to end: the real discord.py client, the fake Discord, the real core and ledger, and an
OpenAI-compatible model server on 127.0.0.1 (the console demo's server, reached through the ordinary
OpenAI provider path with OPENAI_BASE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.streaming import CURSOR
from bot import core as core_module
from bot.config import Settings
from bot.providers import demo
from tests.doubles import TrackingCore
from tests.fakes.discord_api import APP_ID, CHANNEL_ID, DM_BASE, EPHEMERAL, FakeDiscord
from tests.fakes.discord_fixtures import running_bot
from tests.fakes.llm_openai import FakeOpenAI, Script, openai_error

MODEL = "openai/gpt-4o-mini"


@pytest.fixture
async def model_server() -> AsyncIterator[str]:
    async with demo.demo_server(word_delay=0) as base_url:
        yield base_url


@pytest.fixture
async def core(discord_settings: Settings, model_server: str) -> AsyncIterator[TrackingCore]:
    settings = discord_settings.model_copy(
        update={
            "openai_base_url": model_server,
            "openai_api_key": "sk-test-not-a-real-key",
            "default_model": MODEL,
            "default_cap_usd": Decimal("1.00"),
        }
    )
    async with core_module.open_core(settings) as real:
        yield TrackingCore(real)


def ledger(core: TrackingCore) -> Any:
    return core.inner.services.ledger


async def test_ask_is_deferred_streamed_and_charged(
    fake_discord: FakeDiscord, discord_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        alice = fake_discord.user(31, "alice")
        event = fake_discord.slash(alice, "ask", {"prompt": "What is a ledger?"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await core.wait_handled(1)
        spend = fake_discord.slash(alice, "spend")
        await fake_discord.dispatch("INTERACTION_CREATE", spend)
        await core.wait_handled(2)
    token = event["token"]
    assert fake_discord.callbacks(token)[0].body == {"type": 5}
    edits = fake_discord.original_edits(token)
    # streamed: progress with a cursor while words arrive, then the whole answer (the fake model is fast, so
    # words pile up while a progress edit is in flight and the next edit shows them all)
    assert len(edits) >= 2 and edits[0].body["content"].endswith(CURSOR.strip())
    (answer,) = fake_discord.shown(token)
    assert 'You asked: "What is a ledger?"' in answer
    summary = await ledger(core).summary("discord:31")
    assert summary.spent > 0 and summary.held == 0
    (spend_line,) = fake_discord.shown(spend["token"])
    assert spend_line.startswith("Spent $")
    assert fake_discord.callbacks(spend["token"])[0].body == {"type": 5, "data": {"flags": EPHEMERAL}}


async def test_cap_reached_is_refused_ephemerally_and_nothing_is_charged(
    fake_discord: FakeDiscord, discord_settings: Settings, core: TrackingCore
) -> None:
    await ledger(core).set_cap("discord:32", 0)
    async with running_bot(core, discord_settings, fake_discord):
        event = fake_discord.slash(fake_discord.user(32, "bob"), "ask", {"prompt": "hello"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await core.wait_handled(1)
    token = event["token"]
    (line,) = fake_discord.shown(token)
    assert line.startswith("Your allowance can't pay for an answer: $0")
    (followup,) = fake_discord.followups(token)
    assert followup.flags & EPHEMERAL and followup.content == line
    assert (await ledger(core).summary("discord:32")).spent == 0


async def test_a_provider_error_is_one_ephemeral_line_and_nothing_is_charged(
    fake_discord: FakeDiscord, discord_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    bad_key = openai_error(
        401, "Incorrect API key provided: sk-test-not-a-real-key.", "invalid_request_error"
    )
    fake_openai.then(Script(status=401, error_body=bad_key))
    settings = discord_settings.model_copy(
        update={
            "openai_base_url": fake_openai.url,
            "openai_api_key": "sk-test-not-a-real-key",
            "default_model": MODEL,
        }
    )
    async with core_module.open_core(settings) as real:
        core = TrackingCore(real)
        async with running_bot(core, settings, fake_discord):
            event = fake_discord.slash(fake_discord.user(36, "fin"), "ask", {"prompt": "hello"})
            await fake_discord.dispatch("INTERACTION_CREATE", event)
            await core.wait_handled(1)
        spent = (await real.services.ledger.summary("discord:36")).spent
    (line,) = fake_discord.shown(event["token"])
    assert line.startswith(MODEL) and line.endswith("You were not charged.")
    assert "\n" not in line and "sk-test" not in line and len(line) < 200
    (followup,) = fake_discord.followups(event["token"])
    assert followup.flags & EPHEMERAL and followup.content == line  # only the asker sees it
    assert spent == 0


async def test_model_autocomplete_and_switch(
    fake_discord: FakeDiscord, discord_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, discord_settings, fake_discord):
        carol = fake_discord.user(33, "carol")
        typed = fake_discord.autocomplete(carol, "model", "model", "gpt-4o")
        await fake_discord.dispatch("INTERACTION_CREATE", typed)
        await fake_discord.wait_for(lambda: bool(fake_discord.callbacks(typed["token"])), "autocomplete")
        choices = fake_discord.callbacks(typed["token"])[0].body["data"]["choices"]
        assert 0 < len(choices) <= 25
        assert all("gpt-4o" in c["value"] and "$" in c["name"] for c in choices)
        chosen = next(c["value"] for c in choices if c["value"] != MODEL)
        switch = fake_discord.slash(carol, "model", {"model": chosen})
        await fake_discord.dispatch("INTERACTION_CREATE", switch)
        await core.wait_handled(1)
    (line,) = fake_discord.shown(switch["token"])
    assert line.startswith(f"Model set to {chosen}")
    assert (await ledger(core).profile("discord:33")).model == chosen


async def test_two_people_at_once_each_pay_for_their_own_answer(
    fake_discord: FakeDiscord, discord_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, discord_settings, fake_discord):
        dan = fake_discord.slash(fake_discord.user(34, "dan"), "ask", {"prompt": "same question"})
        eve = fake_discord.message(fake_discord.user(35, "eve"), "same question", channel=CHANNEL_ID + 7)
        await fake_discord.dispatch("INTERACTION_CREATE", dan)
        await fake_discord.dispatch("MESSAGE_CREATE", eve)
        await core.wait_handled(2)
    assert 'You asked: "same question"' in fake_discord.shown(dan["token"])[0]
    dm_posts = fake_discord.channel_posts(CHANNEL_ID + 7)
    assert dm_posts and all(c.flags & EPHEMERAL == 0 for c in dm_posts)
    dan_spent = (await ledger(core).summary("discord:34")).spent
    eve_spent = (await ledger(core).summary("discord:35")).spent
    assert dan_spent > 0 and eve_spent > 0


async def test_owner_commands_name_people_by_mention_and_refuse_others(
    fake_discord: FakeDiscord, discord_settings: Settings, model_server: str
) -> None:
    settings = discord_settings.model_copy(
        update={
            "openai_base_url": model_server,
            "openai_api_key": "sk-test-not-a-real-key",
            "default_model": MODEL,
            "owner_ids": ("discord:31",),
        }
    )
    async with core_module.open_core(settings) as real:
        core, book = TrackingCore(real), real.services.ledger
        alice, bob = fake_discord.user(31, "alice"), fake_discord.user(32, "bob")
        async with running_bot(core, settings, fake_discord):
            first = fake_discord.slash(bob, "ask", {"prompt": "hello"})
            await fake_discord.dispatch("INTERACTION_CREATE", first)
            await core.wait_handled(1)
            cap = fake_discord.slash(alice, "cap", {"arguments": "<@32> 0.25 daily"})
            await fake_discord.dispatch("INTERACTION_CREATE", cap)
            await core.wait_handled(2)
            grab = fake_discord.slash(bob, "cap", {"arguments": "<@!31> 100"})
            await fake_discord.dispatch("INTERACTION_CREATE", grab)
            await core.wait_handled(3)
            block = fake_discord.message(alice, f"<@{APP_ID}> /block <@32>", mentions=[fake_discord.bot, bob])
            await fake_discord.dispatch("MESSAGE_CREATE", block)
            await core.wait_handled(4)
            again = fake_discord.slash(bob, "ask", {"prompt": "still there?"})
            await fake_discord.dispatch("INTERACTION_CREATE", again)
            await core.wait_handled(5)
        bob_now, alice_now = await book.profile("discord:32"), await book.profile("discord:31")
    assert [m.text for m in core.handled][1:4] == [
        "/cap discord:32 0.25 daily",
        "/cap discord:31 100",
        "/block discord:32",
    ]
    (capped,) = fake_discord.shown(cap["token"])
    assert capped.startswith("Cap set. discord:32 (@bob)") and "of $0.25 per day" in capped
    (refused,) = fake_discord.shown(grab["token"])
    assert refused == "/cap is for the bot's owner only."
    assert fake_discord.channel_posts()[-1].body["content"].startswith("Blocked discord:32.")
    assert fake_discord.shown(again["token"]) == ["You are blocked from using this bot."]
    assert (bob_now.cap, bob_now.period, bob_now.blocked) == (250_000_000, "daily", True)
    assert (alice_now.cap, alice_now.blocked) == (None, False)


async def test_link_in_a_guild_issues_no_code_and_in_a_dm_it_does(
    fake_discord: FakeDiscord, discord_settings: Settings, core: TrackingCore
) -> None:
    """Issue 13: a mention's /link used to post the code in the channel."""
    async with running_bot(core, discord_settings, fake_discord):
        pat = fake_discord.user(36, "pat")
        mention = fake_discord.message(pat, f"<@{APP_ID}> /link", mentions=[fake_discord.bot])
        await fake_discord.dispatch("MESSAGE_CREATE", mention)
        await core.wait_handled(1)
        slash = fake_discord.slash(pat, "link")
        await fake_discord.dispatch("INTERACTION_CREATE", slash)
        await core.wait_handled(2)
        dm = fake_discord.message(pat, "/link", channel=DM_BASE + 36)
        await fake_discord.dispatch("MESSAGE_CREATE", dm)
        await core.wait_handled(3)
    refusal = "Send /link to me in a private chat"
    assert fake_discord.posted() == ["I've sent you a DM."]  # the channel sees no code, nor the refusal
    in_dm, code_line = fake_discord.posted(DM_BASE + 36)
    assert in_dm.startswith(refusal)
    (ephemeral,) = fake_discord.shown(slash["token"])
    assert ephemeral.startswith(refusal)
    assert code_line.startswith("Your link code is ")
    code = code_line.split("Your link code is ", 1)[1].split(".", 1)[0]
    assert (await ledger(core).redeem_code("telegram:36", code)).account == "discord:36"
