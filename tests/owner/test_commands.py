"""Owner commands from chat: /cap /block /unblock /users /usage, with the ledger checked before and after."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.ledger import CapReached, Quote
from tests.harness import (
    CENT,
    DOLLAR,
    OWNER,
    Harness,
    charge,
    check_invariants,
    harness,
    meet,
    snapshot,
)

BOB, CAROL = "telegram:2", "discord:3"


@pytest.fixture
async def h(tmp_path: Path) -> Harness:  # type: ignore[misc]
    async with harness(tmp_path, owner_ids=(OWNER, "discord:9")) as built:
        await meet(built.ledger, OWNER, "boss")
        await meet(built.ledger, BOB, "bob")
        await meet(built.ledger, CAROL, "carol")
        yield built


OWNER_COMMANDS = [
    "/cap telegram:2 5",
    "/cap telegram:2 unlimited",
    "/block telegram:2",
    "/unblock telegram:2",
    "/users",
    "/usage",
    "/usage telegram:2",
    "/link telegram:2 discord:3",
]


@pytest.mark.parametrize("text", OWNER_COMMANDS)
async def test_owner_commands_from_anyone_else_are_refused_and_change_nothing(h: Harness, text: str) -> None:
    await h.ledger.set_blocked(CAROL, True)
    await charge(h.ledger, BOB, 3 * CENT)
    before = await snapshot(h.db)
    reply = await h.say(text, user=BOB)
    assert len(reply.lines) == 1
    assert "for the bot's owner only" in reply.last
    assert await snapshot(h.db) == before


@pytest.mark.parametrize("owner", [OWNER, "discord:9", "console:admin"])
async def test_cap_sets_the_cap_from_any_platform(h: Harness, owner: str) -> None:
    reply = await h.say("/cap telegram:2 5 daily", user=owner)
    assert reply.last.startswith("Cap set. telegram:2 (@bob): $0.00 today of $5.00 per day, $5.00 left")
    profile = await h.ledger.profile(BOB)
    assert (profile.cap, profile.unlimited, profile.period) == (5 * DOLLAR, False, "daily")
    summary = await h.ledger.summary(BOB)
    assert (summary.cap, summary.period) == (5 * DOLLAR, "daily")


async def test_cap_by_username_and_by_reply(h: Harness) -> None:
    await h.say("/cap @BOB $0.25")
    assert (await h.ledger.profile(BOB)).cap == 25 * CENT
    await h.say("/cap 2 weekly", reply_to_user=CAROL)
    profile = await h.ledger.profile(CAROL)
    assert (profile.cap, profile.period) == (2 * DOLLAR, "weekly")


async def test_cap_keeps_the_period_unless_given_and_default_resets(h: Harness) -> None:
    await h.say("/cap telegram:2 5 weekly")
    await h.say("/cap telegram:2 unlimited")
    profile = await h.ledger.profile(BOB)
    assert (profile.cap, profile.unlimited, profile.period) == (None, True, "weekly")
    assert (await h.ledger.summary(BOB)).cap is None
    reply = await h.say("/cap telegram:2 default default")
    profile = await h.ledger.profile(BOB)
    assert (profile.cap, profile.unlimited, profile.period) == (None, False, None)
    assert "$1.00 per month" in reply.last


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/cap telegram:2 -1", "is not an amount of dollars"),
        ("/cap telegram:2 NaN", "is not an amount of dollars"),
        ("/cap telegram:2 five", "is not an amount of dollars"),
        ("/cap telegram:2 1e3", "is not an amount of dollars"),
        ("/cap telegram:2 inf", "is not an amount of dollars"),
        ("/cap telegram:2 10000000", "is more than the $1,000,000 limit"),
        ("/cap telegram:2 " + "9" * 40, "is more than the $1,000,000 limit"),
        ("/cap telegram:2 99999999999999999999999999999.5", "is more than the $1,000,000 limit"),
        ("/cap telegram:2 Infinity", "is not an amount of dollars"),
        ("/cap telegram:2 -0.5", "is not an amount of dollars"),
        ("/cap telegram:2 $", "is not an amount of dollars"),
        ("/cap telegram:2 1,000", "is not an amount of dollars"),
        ("/cap telegram:2 0.0000000001", "more than nine decimals"),
        ("/cap telegram:2 5 hourly", "'hourly' is not a period"),
        ("/cap telegram:2 5 daily extra", "Give an amount"),
        ("/cap telegram:2", "Give an amount"),
        ("/cap", "Say who"),
        ("/cap 5", "I don't know 5"),
        ("/cap @nobody 5", "I don't know @nobody"),
        ("/block", "Say who"),
        ("/block telegram:abc", "I don't know telegram:abc"),
        ("/block telegram:1", "owners can't be blocked"),
        ("/block telegram:2 now", "Unexpected 'now'"),
        ("/unblock @ghost", "I don't know @ghost"),
        ("/unblock", "Say who"),
        ("/usage @nobody", "I don't know @nobody"),
        ("/users everyone", "takes no arguments"),
        ("/usage telegram:2 discord:3", "at most one person"),
        ("/usage discord:me", "I don't know discord:me"),
    ],
)
async def test_bad_input_gets_one_line_and_changes_nothing(h: Harness, text: str, expected: str) -> None:
    await h.say("/cap telegram:2 3 weekly")
    await charge(h.ledger, BOB, 7 * CENT)
    before = await snapshot(h.db)
    reply = await h.say(text)
    assert len(reply.lines) == 1, reply.lines
    assert expected in reply.last
    assert await snapshot(h.db) == before


async def test_same_handle_on_two_platforms_prefers_the_askers_platform(h: Harness) -> None:
    await meet(h.ledger, "discord:4", "bob")
    await h.say("/cap @bob 2")  # the owner is on Telegram
    assert (await h.ledger.profile(BOB)).cap == 2 * DOLLAR
    assert (await h.ledger.profile("discord:4")).cap is None
    before = await snapshot(h.db)
    reply = await h.say("/cap @bob 3", user="console:admin")
    assert "could be discord:4, telegram:2" in reply.last
    assert await snapshot(h.db) == before


async def test_cap_lowered_below_spend_refuses_the_next_answer(h: Harness) -> None:
    await charge(h.ledger, BOB, 60 * CENT)
    reply = await h.say("/cap telegram:2 0.50")
    assert "$0.60 this month of $0.50 per month, $0.00 left" in reply.last
    assert "New answers are refused until the period resets, Dec 1, 2026 00:00 UTC" in reply.last
    with pytest.raises(CapReached):
        await h.ledger.reserve(BOB, Quote(1, Decimal(0), 100, 16))
    spend = await h.say("/spend", user=BOB)
    assert "Spent $0.60 this month of your $0.50 cap; $0.00 left." in spend.last
    await check_invariants(h.ledger)


async def test_block_and_unblock(h: Harness) -> None:
    reply = await h.say("/block @bob")
    assert reply.last.startswith("Blocked telegram:2.") and "[blocked]" in reply.last
    assert (await h.ledger.profile(BOB)).blocked
    refused = await h.say("/spend", user=BOB)
    assert refused.lines == ["You are blocked from using this bot."]
    await h.say("/unblock", reply_to_user=BOB)
    assert not (await h.ledger.profile(BOB)).blocked
    assert "Spent" in (await h.say("/spend", user=BOB)).last


async def test_users_lists_top_spenders_this_period(h: Harness) -> None:
    await charge(h.ledger, BOB, 30 * CENT)
    await charge(h.ledger, CAROL, 45 * CENT)
    await h.say("/block discord:3")
    await h.say("/cap telegram:2 unlimited")
    h.clock.advance(days=20)  # into December: last month's spend no longer counts
    await charge(h.ledger, BOB, 2 * CENT)
    reply = await h.say("/users")
    lines = reply.last.splitlines()
    assert lines[0] == "Top spenders (default cap $1.00 per month):"
    assert lines[1] == "1. telegram:2 (@bob): $0.02 this month, unlimited"
    assert lines[2] == "2. discord:3 (@carol): $0.00 this month of $1.00 per month, $1.00 left [blocked]"


async def test_users_with_nobody(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert (await h.say("/users")).last == "Nobody has used the bot yet."


async def test_usage_per_model_for_everyone_and_one_person(h: Harness) -> None:
    await charge(
        h.ledger, BOB, 3 * CENT, "openai/gpt-4o", input_tokens=1000, cache_read_tokens=200, output_tokens=50
    )
    await charge(
        h.ledger, BOB, 1 * CENT, "openai/gpt-4o-mini", input_tokens=10, output_tokens=5, reasoning_tokens=2
    )
    # Carol's answer was reported at half a cent more than its hold: the owner absorbed that
    await charge(
        h.ledger, CAROL, 2 * CENT, "openai/gpt-4o", input_tokens=500, output_tokens=20, absorbed=CENT // 2
    )
    everyone = (await h.say("/usage")).last.splitlines()
    assert everyone == [
        "Everyone, this month:",
        "openai/gpt-4o: 2 req, 1,500 in (200 cached), 70 out (0 reasoning), $0.05"
        " (+$0.005 absorbed by the owner)",
        "openai/gpt-4o-mini: 1 req, 10 in (0 cached), 5 out (2 reasoning), $0.01",
        "Total: 3 req, $0.06 (+$0.005 absorbed by the owner)",
    ]
    carol = (await h.say("/usage @carol")).last.splitlines()
    assert carol == [
        "discord:3, this month:",
        "openai/gpt-4o: 1 req, 500 in (0 cached), 20 out (0 reasoning), $0.02"
        " (+$0.005 absorbed by the owner)",
        "Total: 1 req, $0.02 (+$0.005 absorbed by the owner)",
    ]
    assert (await h.ledger.summary(CAROL)).spent == 2 * CENT  # what caps check never includes it
    h.clock.advance(days=10)
    assert (await h.say("/usage")).last == "Everyone, this month: no usage."


async def test_help_lists_owner_commands_only_to_owners(h: Harness) -> None:
    assert "/cap <user>" in (await h.say("/help")).last
    public = (await h.say("/help", user=BOB)).last
    assert "/cap" not in public and "/link" in public


@pytest.mark.parametrize("keep", [OWNER, "discord:5"])
async def test_an_identity_sharing_an_owners_allowance_cant_be_blocked(h: Harness, keep: str) -> None:
    """A block applies to the whole account, so blocking the owner's other identity would block the owner."""
    await meet(h.ledger, "discord:5", "boss_dc")
    join = "discord:5" if keep == OWNER else OWNER
    assert (await h.say(f"/link {keep} {join}")).last.startswith("Linked")
    before = await snapshot(h.db)
    for name in ("discord:5", "@boss_dc", "telegram:1"):
        reply = await h.say(f"/block {name}")
        assert len(reply.lines) == 1, reply.lines
        assert "owners can't be blocked" in reply.last
    assert await snapshot(h.db) == before
    await charge(h.ledger, "discord:5", CENT)  # the owner's allowance still pays
