"""SQLite: WAL, one writer thread behind an asyncio lock, a small pool of aiosqlite readers.

All tasks share the writer, so write transactions are serialised in-process by a lock (interleaved
transactions on one connection would merge) and across processes by `BEGIN IMMEDIATE`. Reads use
connections of their own, so they never see another task's uncommitted write, never wait for a writer
(WAL lets readers and a writer work at once), and a slow read (an owner's report) holds one reader while
the others, and the writer, go on serving everyone else's answers. The writer, and how `transaction`
runs whole and batched there, is `sqlite_writer.py`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from bot.storage.base import Database, DatabaseError, Row, Tx
from bot.storage.sqlite_writer import Statements, TripTx, Writer, busy, pragmas

T = TypeVar("T")
READERS = 4  # reader connections per process (each is a thread): reads beyond this many at once queue
# How long opening waits for a file another process holds locked while it creates or migrates the schema.
OPEN_PATIENCE = 60.0


class _ReaderTx(Statements):
    """Reads on an aiosqlite connection: one trip to its thread per statement (`execute_fetchall`)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, args))


class SqliteDatabase(Database):
    """The default store: one file, no server, safe for several processes through SQLite's own locks."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, writer: Writer, readers: list[aiosqlite.Connection]) -> None:
        self._writer = writer
        self._readers = readers  # empty for an in-memory database: reads share the writer
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)

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
                if not busy(exc) or time.monotonic() + pause > deadline:
                    raise DatabaseError(f"DATABASE_URL: cannot open {path}: {exc}") from None
            except sqlite3.Error as exc:
                raise DatabaseError(f"DATABASE_URL: cannot open {path}: {exc}") from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    @classmethod
    async def _open(cls, path: str, memory: bool) -> SqliteDatabase:
        if not memory:
            _probe(path)
        writer = await Writer.connect(":memory:" if memory else path)
        readers: list[aiosqlite.Connection] = []
        try:
            if not memory:  # (a second connection to :memory: would be a second, empty database)
                for _ in range(READERS):
                    readers.append(await cls._reader_connection(path))
        except BaseException:
            for conn in readers:
                await conn.close()
            await writer.close()
            raise
        return cls(writer, readers)

    @staticmethod
    async def _reader_connection(path: str) -> aiosqlite.Connection:
        """A reader, closed again if it can't be set up: each one owns a thread that would otherwise keep
        the process from exiting (a file that is not a database fails only at the first statement)."""
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            for pragma in pragmas():
                await conn.execute_fetchall(pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """`work(tx)` as one write transaction, run whole in the writer's thread and batched with the
        others waiting there (`Writer.transaction`). `work` must await only `tx`'s statements: the money
        paths (reserve, settle, account changes) are written that way."""
        return await self._writer.transaction(work)

    def write(self) -> AbstractAsyncContextManager[Tx]:
        """`BEGIN IMMEDIATE` under the in-process lock: the file's write lock is taken before the first read,
        so a check and the write it guards can't interleave with another process's (busy → `DatabaseBusy`).
        One trip to the writer's thread per statement: for bodies that wait on other things in between."""
        return self._writer.write()

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[Statements]:
        """An idle reader connection for one read (waiting while all are busy), never the writer's lock;
        an in-memory database has one connection, shared under the lock."""
        if not self._readers:
            async with self._writer.lock:
                yield TripTx(self._writer)
            return
        conn = await self._idle.get()
        try:
            yield _ReaderTx(conn)
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
