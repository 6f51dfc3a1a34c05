"""SQLite through aiosqlite: WAL, one writer connection behind an asyncio lock, a small pool of readers.

All tasks share the writer, so write transactions are serialised in-process by a lock (interleaved
transactions on one connection would merge) and across processes by `BEGIN IMMEDIATE`. Reads use
connections of their own, so they never see another task's uncommitted write, never wait for a writer
(WAL lets readers and a writer work at once), and a slow read (an owner's report) holds one reader while
the others, and the writer, go on serving everyone else's answers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Tx

READERS = 4  # reader connections per process (each is a thread): reads beyond this many at once queue
BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another process's write before `DatabaseBusy`
# How long opening waits for a file another process holds locked while it creates or migrates the schema.
OPEN_PATIENCE = 60.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


async def _rows(conn: aiosqlite.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Execute and read every row in ONE hop to the connection's thread (`execute`, `fetchone` and closing
    the cursor would be three, each a thread wake-up and a loop wake-up). Reading to the end resets the
    statement, so no cursor is left holding a read snapshot (and locks) alive."""
    return list(await conn.execute_fetchall(sql, args))


async def _run(conn: aiosqlite.Connection, sql: str, args: tuple[Any, ...] = ()) -> None:
    """Execute a statement whose rows (if any) nobody reads."""
    await _rows(conn, sql, args)


class _SqliteTx(Tx):
    lock = ""
    serialised = True

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await _run(self._conn, sql, args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """The first row (callers' queries return one row, or a few at most: all are read in the same hop)."""
        rows = await _rows(self._conn, sql, args)
        return dict(rows[0]) if rows else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await _rows(self._conn, sql, args)]


class SqliteDatabase(Database):
    """The default store: one file, no server, safe for several processes through SQLite's own locks."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, readers: list[aiosqlite.Connection]) -> None:
        self._writer = writer
        self._readers = readers  # empty for an in-memory database: reads share the writer
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        """Open (creating the folder) a database file, or `:memory:` for a throwaway one.

        A path that can't be used fails here, as one `DatabaseError` line, not at the first request. A
        file another process holds locked (it is creating or migrating the schema: two processes started
        together on one file) is waited for, up to `OPEN_PATIENCE` seconds, rather than refused.
        """
        memory = path in ("", ":memory:")
        if not memory:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"DATABASE_URL: cannot create {Path(path).parent}: {exc.strerror}"
                ) from None
        deadline = time.monotonic() + OPEN_PATIENCE
        pause = 0.05
        while True:
            try:
                return await cls._open(path, memory)
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + pause > deadline:
                    raise DatabaseError(f"DATABASE_URL: cannot open {path}: {exc}") from None
            except sqlite3.Error as exc:
                raise DatabaseError(f"DATABASE_URL: cannot open {path}: {exc}") from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    @classmethod
    async def _open(cls, path: str, memory: bool) -> SqliteDatabase:
        opened: list[aiosqlite.Connection] = []
        try:
            if not memory:
                _probe(path)
            opened.append(await cls._connect(":memory:" if memory else path))
            if memory:  # a second connection would be a second, empty database
                return cls(opened[0], [])
            await _run(opened[0], "PRAGMA journal_mode=WAL")
            for _ in range(READERS):
                opened.append(await cls._connect(path))
        except BaseException:
            for conn in opened:
                await conn.close()
            raise
        return cls(opened[0], opened[1:])

    @staticmethod
    async def _connect(path: str) -> aiosqlite.Connection:
        """A connection, closed again if it can't be set up: each one owns a thread that would otherwise
        keep the process from exiting (a file that is not a database fails only at the first statement)."""
        conn = await aiosqlite.connect(path, isolation_level=None)  # we issue BEGIN ourselves
        try:
            conn.row_factory = sqlite3.Row
            await _run(conn, f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await _run(conn, "PRAGMA foreign_keys=ON")
            await _run(conn, "PRAGMA synchronous=NORMAL")
        except BaseException:
            await conn.close()
            raise
        return conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """`BEGIN IMMEDIATE` under the in-process lock: the file's write lock is taken before the first read,
        so a check and the write it guards can't interleave with another process's (busy → `DatabaseBusy`)."""
        async with self._lock:
            try:
                await _run(self._writer, "BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    raise DatabaseBusy(str(exc)) from None
                raise
            try:
                yield _SqliteTx(self._writer)
            except BaseException:
                await _run(self._writer, "ROLLBACK")
                raise
            try:
                await _run(self._writer, "COMMIT")
            except sqlite3.OperationalError as exc:
                await _run(self._writer, "ROLLBACK")
                if _busy(exc):
                    raise DatabaseBusy(str(exc)) from None
                raise

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[_SqliteTx]:
        """An idle reader connection for one read (waiting while all are busy), never the writer's lock;
        an in-memory database has one connection, shared under the lock."""
        if not self._readers:
            async with self._lock:
                yield _SqliteTx(self._writer)
            return
        conn = await self._idle.get()
        try:
            yield _SqliteTx(conn)
        finally:
            self._idle.put_nowait(conn)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """On a reader connection of the pool: a slow read never delays a write or another read."""
        async with self._reader() as reader:
            return await reader.fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Many rows, on a reader connection as `fetchone` reads."""
        async with self._reader() as reader:
            return await reader.fetchall(sql, *args)

    async def close(self) -> None:
        """Close every connection: each owns a thread that would keep the process from exiting."""
        await self._writer.close()
        for reader in self._readers:
            await reader.close()


def _probe(path: str) -> None:
    """Open the file once in this thread, so a path that is a directory or not a database fails here.

    aiosqlite runs each connection in a thread of its own; when its very first step fails, that thread
    may still be finishing after the event loop has closed, and prints a traceback under our one line.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA schema_version")
    finally:
        conn.close()
