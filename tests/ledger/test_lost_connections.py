"""Connections that drop (a PostgreSQL restart, a failover, pg_terminate_backend): the request is refused in
one line and changes nothing, reads try again, and a hold whose reserve committed while its answer was lost
is released by the sweep, never charged and never settled twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.ledger import Hold, Ledger
from bot.ledger.ledger import ORPHAN_AFTER
from bot.storage import DatabaseBusy, open_database
from tests.doubles import Clock
from tests.harness import check_invariants
from tests.ledger.ledgers import DETAIL, Opener, charges_sum, make_ledger, open_holds, quote
from tests.postgres import postgres_url, scratch_schema


async def test_a_connection_killed_mid_reserve_is_one_refusal_and_changes_nothing() -> None:
    import asyncpg

    async with scratch_schema(postgres_url()) as url:
        db = await open_database(url)
        admin = await asyncpg.connect(url)
        try:
            ledger = make_ledger(db, Clock())
            await ledger.reserve("u:1", quote())  # the account's row exists; settle it away below
            await ledger.release((await _holds(ledger))[0])
            # someone else holds the account's row, so the reserve waits on it: then its backend is killed
            locker = admin.transaction()
            await locker.start()
            await admin.execute("SELECT * FROM users WHERE user_id = 'u:1' FOR UPDATE")
            reserving = asyncio.create_task(ledger.reserve("u:1", quote()))
            waiting: list[int] = []

            async def blocked() -> bool:
                # only the backend our own lock blocks: other test runs may share this server
                rows = await admin.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
                )
                waiting[:] = [int(r["pid"]) for r in rows]
                return bool(waiting)

            for _ in range(200):
                if await blocked():
                    break
                await asyncio.sleep(0.02)
            assert waiting, "the reserve never waited on the row lock"
            await admin.execute("SELECT pg_terminate_backend($1)", waiting[0])
            with pytest.raises(DatabaseBusy, match="connection to PostgreSQL was lost"):
                await reserving
            await locker.rollback()
            assert await open_holds(db) == 0
            # the pool replaces the lost connection: the next request goes through
            hold = await ledger.reserve("u:1", quote())
            await ledger.settle(hold, 5_000, DETAIL)
            assert await charges_sum(db, "u:1") == 5_000
            await check_invariants(ledger)
        finally:
            await admin.close()
            await db.close()


async def test_a_read_on_a_dropped_connection_is_tried_again() -> None:
    import asyncpg

    async with scratch_schema(postgres_url()) as url:
        db = await open_database(url)
        admin = await asyncpg.connect(url)
        try:
            pooled = await db.fetchone("SELECT pg_backend_pid() AS pid")  # the pool's one idle connection
            assert pooled is not None
            await admin.execute("SELECT pg_terminate_backend($1)", pooled["pid"])  # as a server restart does
            assert await db.fetchone("SELECT 2 AS two") == {"two": 2}
        finally:
            await admin.close()
            await db.close()


async def test_a_hold_whose_answer_was_lost_is_released_by_the_sweep_not_charged(opener: Opener) -> None:
    """The reserve committed but its caller saw the connection drop: nobody holds the hold. The heartbeat
    sweep releases it once it is `ORPHAN_AFTER` old; the holds callers do have are left alone."""
    db = await opener()
    clock = Clock()
    ledger = make_ledger(db, clock)
    kept = await ledger.reserve("u:2", quote())  # a caller has this one

    real = Ledger._on_account

    async def answer_lost(self: Ledger, *args: object, **kw: object) -> Hold:
        await real(self, *args, **kw)  # type: ignore[arg-type]
        raise DatabaseBusy("the connection to PostgreSQL was lost (ConnectionResetError)")

    Ledger._on_account = answer_lost  # type: ignore[assignment,method-assign]
    try:
        with pytest.raises(DatabaseBusy):
            await ledger.reserve("u:1", quote())
    finally:
        Ledger._on_account = real  # type: ignore[method-assign]
    assert await open_holds(db) == 2
    assert await ledger.release_orphans() == 0  # too young: it might be a reserve just returning
    clock.advance(seconds=(ORPHAN_AFTER + timedelta(seconds=1)).total_seconds())
    assert await ledger.release_orphans() == 1
    assert await open_holds(db) == 1 and await charges_sum(db, "u:1") == 0
    assert (await ledger.summary("u:1")).held == 0
    assert [h.id for h in await _holds(ledger)] == [kept.id]  # the caller's hold is untouched
    assert await ledger.release_orphans() == 0
    await check_invariants(ledger)


async def _holds(ledger: Ledger) -> list[Hold]:
    rows = await ledger.db.fetchall("SELECT id, user_id, amount, max_output_tokens FROM holds ORDER BY id")
    return [Hold(int(r["id"]), r["user_id"], int(r["amount"]), int(r["max_output_tokens"])) for r in rows]


def test_the_pool_size_is_a_setting() -> None:
    from bot.config import ConfigError, load_settings

    assert load_settings(_env_file=None, database_pool_size=3).database_pool_size == 3
    with pytest.raises(ConfigError, match="DATABASE_POOL_SIZE"):
        load_settings(_env_file=None, database_pool_size=0)
