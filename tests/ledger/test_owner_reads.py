"""The reads the owner's dashboard adds to the ledger (global standing, open holds, recent charges, last
seen), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ledger import ChargeDetail
from bot.tokens import TokenCounts
from tests.doubles import Clock
from tests.harness import CENT
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
