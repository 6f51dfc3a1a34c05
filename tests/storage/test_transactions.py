"""`Database.transaction`: a whole write transaction at once, and on SQLite several in one commit.

On SQLite the work runs in the writer's thread, and transactions that arrive while the writer is busy go
in one batch (one trip, one commit, a savepoint each). What callers rely on is checked here: each sees the
ones before it, a failure is undone alone and raised to its own caller only, a batch refused as a whole
fails everyone and writes nothing, a caller that stops waiting before its batch starts writes nothing, and
a body that awaits anything but its statements is refused. Batches are made deterministic by holding the
writer (an open `write()`, or its lock) while the transactions line up.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.storage import Database, DatabaseBusy, DatabaseError, Tx, open_database
from bot.storage.sqlite import SqliteDatabase

TABLE = "CREATE TABLE IF NOT EXISTS trial (name TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)"
Work = Callable[[Tx], Coroutine[Any, Any, Any]]


class Refused(Exception):
    """A refusal with a field, as the ledger's `CapReached` has: the caller must get this very object."""

    def __init__(self, left: int) -> None:
        super().__init__(f"only {left} left")
        self.left = left


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    assert isinstance(db, SqliteDatabase)
    await db.execute(TABLE)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def any_db(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    await db.execute(TABLE)
    try:
        yield db
    finally:
        await db.close()


def insert(name: str, then: Exception | None = None) -> Work:
    """A transaction that adds a row and returns its name, or raises `then` after adding it."""

    async def work(tx: Tx) -> str:
        await tx.execute("INSERT INTO trial (name) VALUES (?)", name)
        if then is not None:
            raise then
        return name

    return work


async def names(db: Database) -> list[str]:
    return [row["name"] for row in await db.fetchall("SELECT name FROM trial ORDER BY name")]


def count_batches(db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch the writer runs from now on."""
    sizes: list[int] = []
    run = type(db._writer).run

    def counted(writer: Any, batch: list[Any]) -> None:
        sizes.append(len(batch))
        run(writer, batch)

    monkeypatch.setattr(type(db._writer), "run", counted)
    return sizes


async def lined_up(db: SqliteDatabase, works: list[Work]) -> list[asyncio.Task[Any]]:
    """Start the transactions while the writer is held, so that they line up for one batch."""
    tasks = [asyncio.create_task(db.transaction(work)) for work in works]
    for _ in range(3):
        await asyncio.sleep(0)  # each has queued its work and waits for the lock
    return tasks


async def test_a_transaction_commits_what_it_wrote_and_a_failing_one_nothing(any_db: Database) -> None:
    assert await any_db.transaction(insert("kept")) == "kept"
    with pytest.raises(Refused) as refused:
        await any_db.transaction(insert("undone", then=Refused(3)))
    assert refused.value.left == 3
    assert await names(any_db) == ["kept"]


async def test_transactions_that_wait_together_go_in_one_batch_and_each_sees_the_ones_before(
    sqlite_db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sqlite_db.execute("INSERT INTO trial (name) VALUES ('counter')")
    sizes = count_batches(sqlite_db, monkeypatch)

    async def increment(tx: Tx) -> int:  # read, then write what was read plus one: a lost update shows
        row = await tx.fetchone("SELECT n FROM trial WHERE name = 'counter'")
        assert row is not None
        await tx.execute("UPDATE trial SET n = ? WHERE name = 'counter'", int(row["n"]) + 1)
        return int(row["n"])

    async with sqlite_db.write():  # the writer is busy while all 50 arrive
        tasks = await lined_up(sqlite_db, [increment] * 50)
    seen = await asyncio.gather(*tasks)
    assert sorted(seen) == list(range(50))
    row = await sqlite_db.fetchone("SELECT n FROM trial WHERE name = 'counter'")
    assert row == {"n": 50}
    assert sizes == [50]


async def test_a_failure_in_a_batch_is_undone_alone_and_raised_to_its_own_caller_only(
    sqlite_db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_batches(sqlite_db, monkeypatch)
    refusal = Refused(7)
    async with sqlite_db.write():
        tasks = await lined_up(sqlite_db, [insert("a"), insert("b", then=refusal), insert("c")])
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == "a" and results[2] == "c"
    assert results[1] is refusal  # the caller's own exception, fields and all
    assert await names(sqlite_db) == ["a", "c"]
    assert sizes == [3]


async def test_a_batch_the_file_lock_refuses_fails_every_caller_and_writes_nothing(
    sqlite_db: SqliteDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = sqlite_db._writer
    await writer.call(writer.conn.execute, "PRAGMA busy_timeout=50")
    other = sqlite3.connect(tmp_path / "capbot.db", isolation_level=None)  # another process's writer
    other.execute("BEGIN IMMEDIATE")
    try:
        async with sqlite_db._writer.lock:  # hold the writer while three arrive
            tasks = await lined_up(sqlite_db, [insert("a"), insert("b"), insert("c")])
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert all(isinstance(result, DatabaseBusy) for result in results)
    assert len({id(result) for result in results}) == 3  # each caller raises an object of its own
    assert await names(sqlite_db) == []
    assert await sqlite_db.transaction(insert("later")) == "later"  # the writer works again


async def test_a_caller_that_stops_waiting_before_its_batch_starts_writes_nothing(
    sqlite_db: SqliteDatabase,
) -> None:
    async with sqlite_db.write():
        gone, kept = await lined_up(sqlite_db, [insert("gone"), insert("kept")])
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
    assert await kept == "kept"
    assert await names(sqlite_db) == ["kept"]


async def test_a_body_that_awaits_anything_but_its_statements_is_refused_and_writes_nothing(
    sqlite_db: SqliteDatabase,
) -> None:
    async def sleeps(tx: Tx) -> None:
        await tx.execute("INSERT INTO trial (name) VALUES ('half')")
        await asyncio.sleep(0)  # would need the event loop, which the writer's thread has not

    with pytest.raises(RuntimeError, match="awaited something other than its own statements"):
        await sqlite_db.transaction(sleeps)
    assert await names(sqlite_db) == []


async def test_the_work_sees_the_callers_context_variables(sqlite_db: SqliteDatabase) -> None:
    language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="en")
    language.set("fr")

    async def work(tx: Tx) -> str:
        await tx.execute("INSERT INTO trial (name) VALUES (?)", language.get())
        return language.get()

    assert await sqlite_db.transaction(work) == "fr"
    assert await names(sqlite_db) == ["fr"]


async def test_a_write_after_close_fails_at_once_instead_of_waiting_forever(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    await db.close()
    with pytest.raises(DatabaseError, match="closed"):
        await asyncio.wait_for(db.transaction(insert("late")), 5)
    await db.close()  # closing again does nothing


async def test_transactions_waiting_when_the_database_closes_each_fail_at_once(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    assert isinstance(db, SqliteDatabase)
    await db.execute(TABLE)
    async with db._writer.lock:  # the writer is busy while they line up, and closes meanwhile
        waiting = await lined_up(db, [insert("a"), insert("b"), insert("c")])
        await db._writer.close()
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
    assert all(isinstance(result, DatabaseError) for result in results)
    await db.close()
