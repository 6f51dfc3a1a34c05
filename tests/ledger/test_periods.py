"""Calendar periods at their edges, holds that straddle them, and crash reconciliation, on both databases.

The rule under test (see `bot/ledger/ledger.py`): a charge belongs to the period its hold was reserved in.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.ledger import GLOBAL, CapReached, Ledger, Period, all_keys, period_key, reset_time
from bot.storage import Database
from tests.doubles import Clock
from tests.ledger.ledgers import DETAIL, Opener, charges_sum, make_ledger, open_holds, quote


async def total(db: Database, scope: str, key: str) -> int:
    row = await db.fetchone("SELECT spent FROM totals WHERE scope = ? AND period_key = ?", scope, key)
    return int(row["spent"]) if row else 0


async def charges_in(db: Database, user: str, period: Period, moment: datetime) -> int:
    """The sum of a person's charges whose time falls in the period containing `moment`."""
    key = period_key(period, moment)
    rows = await db.fetchall("SELECT cost, created_at FROM charges WHERE user_id = ?", user)
    return sum(
        int(r["cost"]) for r in rows if key in all_keys(datetime.fromtimestamp(int(r["created_at"]), UTC))
    )


def test_weeks_start_on_monday_utc_and_months_roll_into_a_new_year() -> None:
    sunday_night = datetime(2026, 12, 27, 23, 59, 59, tzinfo=UTC)
    monday = datetime(2026, 12, 28, tzinfo=UTC)
    assert period_key("weekly", sunday_night) == "weekly:2026-12-21"
    assert period_key("weekly", monday) == "weekly:2026-12-28"
    assert reset_time("weekly", sunday_night) == monday
    # the week that holds New Year keeps its Monday's key across the year boundary
    assert period_key("weekly", datetime(2027, 1, 3, 23, 0, tzinfo=UTC)) == "weekly:2026-12-28"
    new_year_eve = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert period_key("monthly", new_year_eve) == "monthly:2026-12"
    assert reset_time("monthly", new_year_eve) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_key("monthly", datetime(2027, 1, 1, tzinfo=UTC)) == "monthly:2027-01"
    assert period_key("total", new_year_eve) == "total" and reset_time("total", new_year_eve) is None
    # calendar periods are UTC's: Monday 01:00 at UTC+2 is still Sunday in UTC
    east = timezone(timedelta(hours=2))
    assert period_key("weekly", datetime(2026, 12, 28, 1, 0, tzinfo=east)) == "weekly:2026-12-21"
    with pytest.raises(ValueError):
        period_key("daily", datetime(2026, 12, 28))  # a naive time is a bug, not a guess


@pytest.mark.parametrize(
    ("period", "before", "after"),
    [
        ("daily", datetime(2026, 11, 22, 23, 59, 59), datetime(2026, 11, 23, 0, 0, 30)),
        ("weekly", datetime(2026, 11, 29, 23, 59, 59), datetime(2026, 11, 30, 0, 0, 30)),  # Sun → Mon
        ("monthly", datetime(2026, 12, 31, 23, 59, 59), datetime(2027, 1, 1, 0, 0, 30)),  # Dec → Jan
    ],
)
async def test_a_hold_reserved_before_a_reset_and_settled_after_charges_the_old_period(
    opener: Opener,
    period: Period,
    before: datetime,
    after: datetime,
) -> None:
    """The hold was checked against the old period's allowance, so the old period pays for it.

    Until it settles it still counts against the new period (as every open hold does), so neither period
    can pass its cap; once settled the new period is whole again. For both periods the running total is
    the sum of the charges dated in it.
    """
    db = await opener()
    clock = Clock(before.replace(tzinfo=UTC))
    cap = 2_000_000
    ledger = make_ledger(db, clock, cap=cap, global_cap_nanos=3_000_000)
    await ledger.set_cap("u:1", None, period=period)
    early = await ledger.reserve("u:1", quote())  # 1_100_000 held
    clock.now = after.replace(tzinfo=UTC)
    fresh = await ledger.summary("u:1")
    assert (fresh.spent, fresh.held, fresh.remaining) == (0, early.amount, cap - early.amount)
    assert await ledger.settle(early, 700_000, DETAIL) == 700_000
    old, new = before.replace(tzinfo=UTC), clock()
    assert (
        await total(db, "u:1", period_key(period, old)) == 700_000 == await charges_in(db, "u:1", period, old)
    )
    assert await total(db, "u:1", period_key(period, new)) == 0 == await charges_in(db, "u:1", period, new)
    assert await total(db, GLOBAL, period_key("daily", old)) == 700_000
    assert await total(db, GLOBAL, period_key("daily", new)) == 0
    summary = await ledger.summary("u:1")
    assert (summary.spent, summary.held, summary.remaining) == (0, 0, cap)
    # the new period's own charges land in the new period
    late = await ledger.reserve("u:1", quote())
    await ledger.settle(late, 300_000, DETAIL)
    assert (
        await total(db, "u:1", period_key(period, new)) == 300_000 == await charges_in(db, "u:1", period, new)
    )
    assert await total(db, "u:1", "total") == 1_000_000 == await charges_sum(db, "u:1")


async def test_a_total_cap_never_resets(opener: Opener) -> None:
    db = await opener()
    clock = Clock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    ledger = make_ledger(db, clock, cap=1_200_000)
    await ledger.set_cap("u:1", None, period="total")
    hold = await ledger.reserve("u:1", quote())
    await ledger.settle(hold, hold.amount, DETAIL)
    clock.advance(days=400)
    with pytest.raises(CapReached) as caught:
        await ledger.reserve("u:1", quote())
    assert caught.value.resets_at is None and caught.value.remaining == 100_000
    summary = await ledger.summary("u:1")
    assert (summary.spent, summary.resets_at) == (1_100_000, None)


async def test_a_crash_hold_is_reconciled_into_the_period_it_was_taken_in(opener: Opener) -> None:
    """A restart days later charges the old day (at the full hold), not today's allowance."""
    db = await opener()
    clock = Clock(datetime(2026, 11, 22, 23, 0, tzinfo=UTC))
    ledger = make_ledger(db, clock, cap=2_000_000, global_cap_nanos=5_000_000)
    mine = await ledger.reserve("u:1", quote())
    theirs = await ledger.reserve("u:2", quote(max_output=500))
    # the process dies; a new one starts two days later on a fresh connection to the same database
    clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    restarted = make_ledger(await opener(), clock, cap=2_000_000, global_cap_nanos=5_000_000)
    before = await restarted.summary("u:1")
    assert (before.spent, before.held) == (0, mine.amount)
    assert await restarted.reconcile() == 2
    assert await open_holds(db) == 0
    crash_day = period_key("daily", datetime(2026, 11, 22, tzinfo=UTC))
    assert await total(db, "u:1", crash_day) == mine.amount
    assert await total(db, "u:2", crash_day) == theirs.amount
    assert await total(db, GLOBAL, crash_day) == mine.amount + theirs.amount
    assert await total(db, GLOBAL, "total") == await charges_sum(db, "u:1") + await charges_sum(db, "u:2")
    today = await restarted.summary("u:1")
    assert (today.spent, today.held, today.remaining) == (0, 0, 2_000_000)
    assert today.global_remaining == 5_000_000
    rows = await db.fetchall("SELECT user_id, cost, estimated, model FROM charges ORDER BY user_id")
    assert [(r["user_id"], int(r["cost"]), int(r["estimated"]), r["model"]) for r in rows] == [
        ("u:1", mine.amount, 1, "(interrupted)"),
        ("u:2", theirs.amount, 1, "(interrupted)"),
    ]
    # a late settle of a reconciled hold (the old process was not quite dead) charges nothing more
    assert await ledger.settle(mine, 1, DETAIL) == 0
    assert await charges_sum(db, "u:1") == mine.amount
    assert await restarted.reconcile() == 0


async def test_two_processes_reconciling_at_once_charge_each_hold_once(opener: Opener) -> None:
    db = await opener()
    clock = Clock()
    ledger = make_ledger(db, clock)
    holds = [await ledger.reserve(f"u:{n}", quote()) for n in range(5)]
    first, second = make_ledger(await opener(), clock), make_ledger(await opener(), clock)
    counts = await asyncio.gather(first.reconcile(), second.reconcile())
    assert sum(counts) >= 5  # both may see a hold; only one settle of each charges
    for n, hold in enumerate(holds):
        assert await charges_sum(db, f"u:{n}") == hold.amount
        assert (await ledger.summary(f"u:{n}")).spent == hold.amount
    assert await open_holds(db) == 0


async def test_a_fractional_price_per_token_rounds_the_hold_up(opener: Opener) -> None:
    db = await opener()
    ledger: Ledger = make_ledger(db, Clock())
    hold = await ledger.reserve("u:1", quote(max_output=3, per_token="0.4", input_nanos=10, minimum=1))
    assert hold.amount == 10 + 2  # 3 × 0.4 = 1.2 nano-dollars: held as 2
