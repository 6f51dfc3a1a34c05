"""Usage rollups: reports answered from them (not from charges), partial days, the migration's backfill and
the import's check that they add up, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.ledger import Ledger, ModelUsage
from bot.storage import DatabaseError, export_ledger, import_ledger
from tests.doubles import Clock
from tests.harness import CENT, charge, check_invariants, check_rollups
from tests.ledger.ledgers import Opener, make_ledger

START = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # an hour before a new day (and a new month)


async def _spend_over_two_days(opener: Opener) -> Ledger:
    clock = Clock(START)
    ledger = make_ledger(await opener(), clock, cap=100 * CENT)
    await charge(ledger, "u:1", 2 * CENT, "a/big", input_tokens=100, output_tokens=10)
    await charge(ledger, "u:2", 1 * CENT, "a/small", input_tokens=7, cache_read_tokens=3, output_tokens=1)
    clock.advance(hours=2)  # 01:00 on the 30th
    await charge(ledger, "u:1", 3 * CENT, "a/big", output_tokens=5, reasoning_tokens=4, absorbed=CENT)
    clock.advance(hours=5)  # 06:00
    await charge(ledger, "u:1", 1 * CENT, "a/small", input_tokens=1)
    return ledger


async def test_usage_is_read_from_the_rollups_not_from_charges(opener: Opener) -> None:
    ledger = await _spend_over_two_days(opener)
    await check_invariants(ledger)
    day = datetime(2026, 11, 30, tzinfo=UTC)
    mine = await ledger.usage_by_model("u:1", day)
    everyone = await ledger.usage_by_model(None, None)
    assert mine == [
        ModelUsage("a/big", 1, 0, 0, 5, 4, cost=3 * CENT, absorbed=CENT),
        ModelUsage("a/small", 1, 1, 0, 0, 0, cost=CENT, absorbed=0),
    ]
    assert everyone == [
        ModelUsage("a/big", 2, 100, 0, 15, 4, cost=5 * CENT, absorbed=CENT),
        ModelUsage("a/small", 2, 8, 3, 1, 0, cost=2 * CENT, absorbed=0),
    ]
    async with ledger.db.write() as tx:
        await tx.execute("DELETE FROM charges")  # whole days never look at a charge
    assert await ledger.usage_by_model("u:1", day) == mine
    assert await ledger.usage_by_model(None, None) == everyone


async def test_a_since_inside_a_day_counts_only_that_days_charges_after_it(opener: Opener) -> None:
    ledger = await _spend_over_two_days(opener)
    # from 23:30 on the 29th: nothing of the 29th (its charges were at 23:00), all of the 30th
    half_hour = await ledger.usage_by_model("u:1", START + timedelta(minutes=30))
    assert [(u.model, u.requests, u.cost) for u in half_hour] == [
        ("a/big", 1, 3 * CENT),
        ("a/small", 1, CENT),
    ]
    # from 03:00 on the 30th: the 06:00 charge only
    later = await ledger.usage_by_model(None, datetime(2026, 11, 30, 3, tzinfo=UTC))
    assert [(u.model, u.requests, u.cost) for u in later] == [("a/small", 1, CENT)]
    # a second before midnight: the 23:00 charges are before it, the next day's are all after
    edge = await ledger.usage_by_model(None, datetime(2026, 11, 29, 23, 59, 59, 500_000, tzinfo=UTC))
    assert [(u.model, u.requests) for u in edge] == [("a/big", 1), ("a/small", 1)]


async def test_the_migration_backfills_rollups_from_the_charges(opener: Opener) -> None:
    ledger = await _spend_over_two_days(opener)
    db = ledger.db
    before = sorted(map(dict, await db.fetchall("SELECT * FROM rollups")), key=str)
    async with db.write() as tx:  # back to schema 7: no rollups yet
        await tx.execute("DROP TABLE rollups")
        await tx.execute("ALTER TABLE users DROP COLUMN language")  # schema 9's, re-added on the way up
        await tx.execute("DROP TABLE answers_in_flight")  # schema 10's, likewise
        await tx.execute("DROP TABLE sign_in_tries")  # schema 11's, likewise
        await tx.execute("DELETE FROM schema_version WHERE version >= 8")
    again = await opener()  # opening migrates from 7, building the rollups from the charges
    assert sorted(map(dict, await again.fetchall("SELECT * FROM rollups")), key=str) == before
    await check_rollups(again)


async def test_an_import_whose_rollups_disagree_with_its_charges_is_refused(opener: Opener) -> None:
    ledger = await _spend_over_two_days(opener)
    out = io.StringIO()
    await export_ledger(ledger.db, out)
    lines = out.getvalue().splitlines()
    tampered = []
    for line in lines:
        item = json.loads(line)
        if item.get("table") == "rollups" and item["row"]["scope"] == "u:1":
            item["row"]["cost"] += 1
        tampered.append(json.dumps(item))
    empty = await opener()
    async with empty.write() as tx:
        for table in ("charges", "rollups", "totals", "holds", "users", "links", "api_keys", "link_codes"):
            await tx.execute(f"DELETE FROM {table}")
    with pytest.raises(DatabaseError, match=r"did not arrive whole \(rollup"):
        await import_ledger(empty, io.StringIO("\n".join(tampered) + "\n"))
    assert await empty.fetchone("SELECT * FROM charges") is None  # nothing was kept
    await import_ledger(empty, io.StringIO(out.getvalue()))  # the untouched file arrives
    await check_rollups(empty)
