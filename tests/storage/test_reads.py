"""Reads off the writer: while a slow read (an owner's report) is in progress, another person's reserve,
settle and `/spend` complete, on SQLite (a pool of reader connections beside the one writer) and on
PostgreSQL (reads never take the connections writes need). Ordering is asserted with events, not timings.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import asyncpg

from bot.storage import open_database
from bot.storage.sqlite import SqliteDatabase
from tests.doubles import Clock
from tests.harness import CENT, charge, check_invariants
from tests.ledger.ledgers import make_ledger
from tests.postgres import postgres_url, scratch_schema

LOCK = 0x7E57_4242  # the advisory lock the PostgreSQL test's slow reads wait for


async def test_on_sqlite_an_answer_is_not_held_up_by_a_slow_read(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    assert isinstance(db, SqliteDatabase)
    started, finish = threading.Event(), threading.Event()

    def slow() -> int:  # runs in a reader's thread: the read is in progress until the test lets it finish
        started.set()
        finish.wait(30)
        return 1

    try:
        for reader in db._readers:
            await reader.create_function("slow", 0, slow)
        ledger = make_ledger(db, Clock())
        report = asyncio.create_task(db.fetchone("SELECT slow() AS done"))
        await asyncio.to_thread(started.wait, 30)
        # while it runs: a reserve and a settle (the writer), and /spend (another reader)
        assert await charge(ledger, "telegram:2", CENT) == CENT
        assert (await ledger.summary("telegram:2")).spent == CENT
        await check_invariants(ledger)
        assert not report.done()
        finish.set()
        assert await report == {"done": 1}
    finally:
        finish.set()
        await db.close()


async def test_on_postgres_reads_never_take_the_connections_an_answer_needs() -> None:
    async with scratch_schema(postgres_url()) as url:
        db = await open_database(url, pool_size=2)
        holder = await asyncpg.connect(postgres_url())
        reports: list[asyncio.Task[object]] = []
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", LOCK)
            # more slow reads than the pool has connections, each waiting for the lock the holder keeps
            reports = [
                asyncio.create_task(db.fetchone("SELECT pg_advisory_xact_lock_shared(?) AS waited", LOCK))
                for _ in range(3)
            ]
            for _ in range(3000):  # until one of them is waiting in the server (at most 30 s)
                if await holder.fetchval(
                    "SELECT COUNT(*) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
                    LOCK,
                ):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("no slow read reached the server")
            ledger = make_ledger(db, Clock())
            async with asyncio.timeout(30):  # a bound, not a measure: without room for writes it hangs
                assert await charge(ledger, "telegram:2", CENT) == CENT
            assert not any(report.done() for report in reports)
            await holder.execute("SELECT pg_advisory_unlock($1)", LOCK)
            await asyncio.gather(*reports)
            assert (await ledger.summary("telegram:2")).spent == CENT
        finally:
            for report in reports:
                report.cancel()
            await holder.close()
            await db.close()
