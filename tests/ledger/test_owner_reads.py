"""The reads the owner's dashboard adds to the ledger (global standing, open holds, recent charges, last
seen), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.ledger import ChargeDetail
from bot.tokens import TokenCounts
from tests.doubles import Clock
from tests.harness import CENT, charge
from tests.ledger.ledgers import Opener, make_ledger, quote


async def test_owner_reads(opener: Opener) -> None:
    clock = Clock()
    ledger = make_ledger(await opener(), clock, cap=100 * CENT, global_cap_nanos=500 * CENT)
    first = await ledger.reserve("telegram:2", quote(input_nanos=3 * CENT, per_token="0", max_output=100))
    await ledger.settle(first, 3 * CENT, ChargeDetail("a/one", TokenCounts(input_tokens=5, output_tokens=7)))
    clock.advance(minutes=5)
    second = await ledger.reserve("telegram:2", quote(input_nanos=2 * CENT, per_token="0", max_output=100))
    await ledger.settle(second, CENT, ChargeDetail("b/two", estimated=True))
    await ledger.link("telegram:2", "discord:9")  # discord:9 now names telegram:2's account
    clock.advance(minutes=5)
    open_hold = await ledger.reserve("discord:3", quote(input_nanos=4 * CENT, per_token="0", max_output=100))

    standing = await ledger.global_standing()
    assert (standing.period, standing.spent, standing.held, standing.cap) == (
        "daily",
        4 * CENT,
        4 * CENT,
        500 * CENT,
    )
    assert standing.remaining == 500 * CENT - 8 * CENT
    assert standing.resets_at == datetime(2026, 11, 23, tzinfo=UTC)

    [held] = await ledger.open_holds()
    assert (held.id, held.user, held.amount, held.created_at) == (
        open_hold.id,
        "discord:3",
        4 * CENT,
        clock.now,
    )

    charges = await ledger.recent_charges("discord:9", 10)
    assert [(c.model, c.cost, c.estimated) for c in charges] == [
        ("b/two", CENT, True),
        ("a/one", 3 * CENT, False),
    ]
    assert (charges[1].input_tokens, charges[1].output_tokens) == (5, 7)
    assert [c.model for c in await ledger.recent_charges("telegram:2", 1)] == ["b/two"]
    assert await ledger.recent_charges("discord:3", 10) == []

    started = datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    assert await ledger.last_seen() == {"telegram:2": started}


async def test_a_summary_reads_the_standing_and_the_last_days_in_one_read(opener: Opener) -> None:
    """/spend's summary and chart for an identity linked into an account with its own weekly cap, under a
    global cap with holds open: the same figures as the owner's reads, from one read of the database."""
    clock = Clock()  # Sunday 2026-11-22
    db = await opener()
    ledger = make_ledger(db, clock, cap=100 * CENT, global_cap_nanos=500 * CENT)
    await ledger.set_cap("telegram:2", 50 * CENT, period="weekly")
    await charge(ledger, "telegram:2", 3 * CENT)  # last week
    clock.advance(days=1)  # Monday: a new week
    await charge(ledger, "telegram:2", 2 * CENT)
    await ledger.link("telegram:2", "discord:9")
    clock.advance(days=1)
    await charge(ledger, "discord:9", CENT)
    await ledger.reserve("discord:9", quote(input_nanos=5 * CENT, per_token="0", max_output=100))
    await ledger.reserve("discord:3", quote(input_nanos=4 * CENT, per_token="0", max_output=100))

    reads = 0
    fetchone, fetchall = db.fetchone, db.fetchall

    async def one(sql: str, *args: object) -> object:
        nonlocal reads
        reads += 1
        return await fetchone(sql, *args)

    async def many(sql: str, *args: object) -> object:
        nonlocal reads
        reads += 1
        return await fetchall(sql, *args)

    db.fetchone, db.fetchall = one, many  # type: ignore[method-assign,assignment]
    summary = await ledger.summary("discord:9", days=4)
    assert reads == 1
    assert (summary.user, summary.period, summary.spent, summary.cap, summary.held, summary.remaining) == (
        "telegram:2",
        "weekly",
        3 * CENT,
        50 * CENT,
        5 * CENT,
        42 * CENT,
    )
    assert summary.resets_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert summary.global_remaining == 500 * CENT - CENT - 9 * CENT  # today's spend, every open hold
    days = [date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
    assert summary.daily == tuple(zip(days, [0, 3 * CENT, 2 * CENT, CENT], strict=True))
    assert await ledger.daily_spend("discord:9", 4) == list(summary.daily)
    assert (await ledger.summary("telegram:2")).daily == ()

    report = await ledger.account("discord:9")
    assert (report.user, report.identities, report.spent, report.remaining) == (
        "telegram:2",
        ("telegram:2", "discord:9"),
        3 * CENT,
        42 * CENT,
    )
    nobody = await ledger.summary("discord:77", days=2)
    assert (nobody.user, nobody.period, nobody.spent, nobody.cap, nobody.held, nobody.remaining) == (
        "discord:77",
        "daily",
        0,
        100 * CENT,
        0,
        100 * CENT,
    )
    assert nobody.daily == ((date(2026, 11, 23), 0), (date(2026, 11, 24), 0))
