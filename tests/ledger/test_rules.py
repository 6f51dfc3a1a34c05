"""The ledger's money rules, on SQLite and (with TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from bot.ledger import Blocked, CapReached, Ledger, period_key
from tests.doubles import Clock
from tests.harness import CENT
from tests.ledger.ledgers import DETAIL, Opener, charges_sum, make_ledger, open_holds, quote


async def test_a_full_hold_then_the_exact_cost(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock)
    hold = await ledger.reserve("telegram:1", quote())
    assert hold.amount == 100_000 + 1000 * 1000
    assert hold.max_output_tokens == 1000
    assert (await ledger.summary("telegram:1")).held == hold.amount
    charged = await ledger.settle(hold, 123_456, DETAIL)
    assert charged == 123_456
    summary = await ledger.summary("telegram:1")
    assert (summary.spent, summary.held, summary.remaining) == (123_456, 0, 10 * CENT - 123_456)
    assert await charges_sum(db, "telegram:1") == 123_456
    assert await open_holds(db) == 0


async def test_near_the_cap_the_output_limit_is_clamped(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock, cap=600_000)
    hold = await ledger.reserve("u:1", quote())
    # 600_000 - 100_000 input leaves 500_000 for output at 1000 per token
    assert hold.max_output_tokens == 500
    assert hold.amount == 600_000


async def test_when_not_even_a_short_answer_fits_it_refuses_with_what_is_left(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock, cap=110_000)
    with pytest.raises(CapReached) as caught:
        await ledger.reserve("u:1", quote())  # 10_000 left for output = 10 tokens < 16
    assert caught.value.remaining == 110_000
    assert caught.value.scope == "user"
    assert caught.value.resets_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert await open_holds(db) == 0


async def test_settle_never_charges_more_than_the_hold_and_only_once(
    opener: Opener, caplog: pytest.LogCaptureFixture
) -> None:
    """A reported cost above the hold charges the hold; the owner absorbs the rest, which no total counts."""
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock)
    hold = await ledger.reserve("u:1", quote())
    with caplog.at_level(logging.WARNING, logger="bot.ledger.ledger"):
        assert await ledger.settle(hold, hold.amount * 5, DETAIL) == hold.amount
    assert f"the owner absorbs {hold.amount * 4}" in caplog.text
    assert await ledger.settle(hold, 1, DETAIL) == 0
    assert (await ledger.summary("u:1")).spent == hold.amount == await charges_sum(db, "u:1")
    row = await db.fetchone("SELECT cost, absorbed FROM charges WHERE user_id = 'u:1'")
    assert row is not None and (int(row["cost"]), int(row["absorbed"])) == (hold.amount, hold.amount * 4)
    [usage] = await ledger.usage_by_model("u:1", None)
    assert (usage.cost, usage.absorbed) == (hold.amount, hold.amount * 4)


async def test_release_charges_nothing(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock)
    await ledger.release(await ledger.reserve("u:1", quote()))
    summary = await ledger.summary("u:1")
    assert (summary.spent, summary.held) == (0, 0)
    assert await charges_sum(db, "u:1") == 0


async def test_a_hold_left_by_a_crash_is_settled_at_the_next_start(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    hold = await make_ledger(db, clock).reserve("u:1", quote())
    # the process dies here: no settle. A new process opens the same database.
    restarted = make_ledger(await opener(), clock)
    assert await restarted.reconcile() == 1
    summary = await restarted.summary("u:1")
    assert (summary.spent, summary.held) == (hold.amount, 0)
    row = await db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = 'u:1'")
    assert row is not None and (int(row["cost"]), int(row["estimated"])) == (hold.amount, 1)
    assert await restarted.reconcile() == 0


async def test_a_daily_cap_resets_at_utc_midnight(opener: Opener) -> None:
    db = await opener()
    clock = Clock(datetime(2026, 11, 22, 23, 59, tzinfo=UTC))
    ledger = make_ledger(db, clock, cap=2_000_000)
    hold = await ledger.reserve("u:1", quote())
    await ledger.settle(hold, hold.amount, DETAIL)
    with pytest.raises(CapReached) as caught:  # 0.9 m left: the input alone and 1000 tokens don't fit
        await ledger.reserve("u:1", quote(minimum=1000))
    assert caught.value.resets_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert caught.value.remaining == 900_000
    clock.now = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    fresh = await ledger.reserve("u:1", quote())
    assert fresh.max_output_tokens == 1000
    assert (await ledger.summary("u:1")).spent == 0


async def test_weekly_and_monthly_periods_follow_the_calendar(opener: Opener) -> None:
    db = await opener()
    clock = Clock(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))  # a Sunday, the last days of November
    ledger = make_ledger(db, clock, cap=2_000_000)
    await ledger.set_cap("u:w", None, period="weekly")
    await ledger.set_cap("u:m", None, period="monthly")
    for user in ("u:w", "u:m"):
        hold = await ledger.reserve(user, quote())
        await ledger.settle(hold, hold.amount, DETAIL)
    clock.now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday: a new week, the same month
    assert (await ledger.summary("u:w")).spent == 0
    assert (await ledger.summary("u:m")).spent == 1_100_000
    assert (await ledger.summary("u:m")).resets_at == datetime(2026, 12, 1, tzinfo=UTC)


async def test_the_global_cap_binds_across_people(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock, cap=10 * CENT, global_cap_nanos=1_500_000)
    first = await ledger.reserve("u:1", quote())
    with pytest.raises(CapReached) as caught:
        await ledger.reserve("u:2", quote(max_output=1000, minimum=500))
    assert caught.value.scope == "global"
    await ledger.settle(first, 200_000, DETAIL)
    second = await ledger.reserve("u:2", quote())
    assert second.max_output_tokens == 1000
    assert (await ledger.summary("u:2")).global_remaining == 1_500_000 - 200_000 - second.amount


async def test_blocked_people_cannot_reserve(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock)
    await ledger.set_blocked("u:1", True)
    with pytest.raises(Blocked):
        await ledger.reserve("u:1", quote())


async def test_unlimited_people_still_meet_the_global_cap(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    ledger = make_ledger(db, clock, cap=0, global_cap_nanos=600_000)
    await ledger.set_cap("owner:1", None, unlimited=True)
    hold = await ledger.reserve("owner:1", quote())
    assert hold.max_output_tokens == 500
    assert (await ledger.summary("owner:1")).remaining is None


async def test_200_concurrent_requests_never_overspend(opener: Opener) -> None:
    """Every answer uses its whole hold, the worst case: the total still stays within the cap."""
    db, clock = await opener(), Clock()
    cap = 20 * 1_100_000 + 350_000  # room for 20 full answers and a clamped one
    ledger = make_ledger(db, clock, cap=cap)
    outcomes: list[str] = []

    async def one() -> None:
        try:
            hold = await ledger.reserve("u:1", quote())
        except CapReached:
            outcomes.append("refused")
            return
        await asyncio.sleep(0)
        await ledger.settle(hold, hold.amount, DETAIL)
        outcomes.append("clamped" if hold.max_output_tokens < 1000 else "full")

    await asyncio.gather(*(one() for _ in range(200)))
    summary = await ledger.summary("u:1")
    assert summary.spent <= cap
    assert summary.spent == await charges_sum(db, "u:1")
    assert summary.held == 0 and await open_holds(db) == 0
    assert outcomes.count("full") == 20
    assert outcomes.count("clamped") == 1
    assert outcomes.count("refused") == 179
    totals = await db.fetchone(
        "SELECT spent FROM totals WHERE scope = ? AND period_key = ?", "*", period_key("daily", clock())
    )
    assert totals is not None and int(totals["spent"]) == summary.spent


async def test_two_processes_racing_for_one_allowance_never_overspend(opener: Opener) -> None:
    clock = Clock()
    cap = 10 * 1_100_000
    ledgers = [make_ledger(await opener(), clock, cap=cap) for _ in range(2)]

    async def one(ledger: Ledger) -> None:
        try:
            hold = await ledger.reserve("u:1", quote(minimum=1000))
        except CapReached:
            return
        await ledger.settle(hold, hold.amount, DETAIL)

    await asyncio.gather(*(one(ledgers[i % 2]) for i in range(60)))
    summary = await ledgers[0].summary("u:1")
    assert summary.spent == cap == await charges_sum(ledgers[0].db, "u:1")
