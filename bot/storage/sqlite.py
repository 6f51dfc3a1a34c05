"""SQLite through aiosqlite: WAL, one writer connection behind an asyncio lock, one reader connection.

All tasks share the writer, so write transactions are serialised in-process by a lock (interleaved
transactions on one connection would merge) and across processes by `BEGIN IMMEDIATE`. Reads use their
own connection so they never see another task's uncommitted write.
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

BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another process's write before `DatabaseBusy`
# How long opening waits for a file another process holds locked while it creates or migrates the schema.
OPEN_PATIENCE = 60.0


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


async def _run(conn: aiosqlite.Connection, sql: str, args: tuple[Any, ...] = ()) -> None:
    """Execute and close the cursor at once: an open cursor keeps a read snapshot (and locks) alive."""
    async with conn.execute(sql, args):
        pass


class _SqliteTx(Tx):
    lock = ""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await _run(self._conn, sql, args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        async with self._conn.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn.execute(sql, args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]


class SqliteDatabase(Database):
    """The default store: one file, no server, safe for several processes through SQLite's own locks."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
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
        writer: aiosqlite.Connection | None = None
        try:
            if not memory:
                _probe(path)
            writer = await cls._connect(":memory:" if memory else path)
            if memory:  # a second connection would be a second, empty database
                return cls(writer, writer)
            await _run(writer, "PRAGMA journal_mode=WAL")
            reader = await cls._connect(path)
        except BaseException:
            if writer is not None:
                await writer.close()
            raise
        return cls(writer, reader)

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

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """On the reader connection; an in-memory database has one connection, shared under the lock."""
        if self._reader is self._writer:
            async with self._lock:
                return await _SqliteTx(self._reader).fetchone(sql, *args)
        return await _SqliteTx(self._reader).fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Many rows, on the reader connection as `fetchone` reads."""
        if self._reader is self._writer:
            async with self._lock:
                return await _SqliteTx(self._reader).fetchall(sql, *args)
        return await _SqliteTx(self._reader).fetchall(sql, *args)

    async def close(self) -> None:
        """Close both connections: each owns a thread that would keep the process from exiting."""
        await self._writer.close()
        if self._reader is not self._writer:
            await self._reader.close()


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
