"""SQLite: WAL, one writer thread behind an asyncio lock, a small pool of aiosqlite readers.

All tasks share the writer, so write transactions are serialised in-process by a lock (interleaved
transactions on one connection would merge) and across processes by `BEGIN IMMEDIATE`. Reads use
connections of their own, so they never see another task's uncommitted write, never wait for a writer
(WAL lets readers and a writer work at once), and a slow read (an owner's report) holds one reader while
the others, and the writer, go on serving everyone else's answers.

Why the writer is a thread of ours and not an aiosqlite connection: every trip between the event loop and
a database thread costs a thread wake-up and a loop wake-up, far more than the statement itself. A reserve
or a settle is half a dozen statements; sent one at a time they were most of a reserve-and-settle's cost.
`transaction(work)` runs the whole of one (BEGIN, every statement, COMMIT) in the writer's thread in one
trip, which aiosqlite has no public way to do. `write()` still sends statements one at a time, for the few
transactions that must wait on something else between them.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Tx

T = TypeVar("T")
READERS = 4  # reader connections per process (each is a thread): reads beyond this many at once queue
BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another process's write before `DatabaseBusy`
# How long opening waits for a file another process holds locked while it creates or migrates the schema.
OPEN_PATIENCE = 60.0
PRAGMAS = (f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}", "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _fetch(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    """Execute and read every row. Reading to the end resets the statement, so no cursor is left holding a
    read snapshot (and locks) alive."""
    return conn.execute(sql, args).fetchall()


class _Statements(Tx):
    """A transaction's statements over some way of running `_fetch`; the subclasses say which."""

    lock = ""
    serialised = True

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        raise NotImplementedError

    async def execute(self, sql: str, *args: Any) -> None:
        await self._rows(sql, args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """The first row (callers' queries return one row, or a few at most: all are read at once)."""
        rows = await self._rows(sql, args)
        return dict(rows[0]) if rows else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._rows(sql, args)]


class _ReaderTx(_Statements):
    """Reads on an aiosqlite connection: one trip to its thread per statement (`execute_fetchall`)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return list(await self._conn.execute_fetchall(sql, args))


class _InThreadTx(_Statements):
    """Statements run at once, in the thread that calls them: the writer's, inside `transaction`. Its
    coroutines never suspend, which is what lets `_drive` finish a whole transaction without a loop."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return _fetch(self._conn, sql, args)


class _TripTx(_Statements):
    """Statements sent to the writer's thread one trip each: `write()`, whose body may await anything."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return await self._writer.call(_fetch, self._writer.conn, sql, args)


def _drive(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here, without an event loop.

    A transaction body awaits only its own statements, and `_InThreadTx`'s return at once; a body that
    awaited anything else (a sleep, a network call) would need the loop, so it is stopped with an error
    rather than left half done (the transaction then rolls back)."""
    try:
        work.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    work.close()
    raise RuntimeError("a transaction body awaited something other than its own statements")


@dataclass(eq=False)
class _Queued:
    """One caller's `transaction`, waiting for the writer's thread: what to run, in which context, and
    (set by the thread, then handed to the caller by `done`) how it went."""

    work: Callable[[Tx], Coroutine[Any, Any, Any]]
    context: contextvars.Context
    finished: asyncio.Future[Any]
    started: bool = False  # taken into a batch: it will run, whether or not its caller still waits
    result: Any = None
    error: BaseException | None = None

    def run(self, conn: sqlite3.Connection) -> bool:
        """Run the work to its end in this thread, keeping its result or its error; whether it succeeded."""
        try:
            self.result = self.context.run(lambda: _drive(self.work(_InThreadTx(conn))))
        except BaseException as exc:  # a refusal (a cap reached, a block) as much as a failure
            self.error = exc
            return False
        return True

    def done(self) -> None:
        """On the loop, once the batch is over: hand the outcome to the caller (unless it stopped waiting)."""
        if self.finished.done():
            return
        if self.error is not None:
            self.finished.set_exception(self.error)
        else:
            self.finished.set_result(self.result)


def _hand_out(batch: list[_Queued]) -> None:
    for queued in batch:
        queued.done()


def _fail(batch: list[_Queued], exc: Exception) -> None:
    """The batch as a whole failed (nothing of it was written): each caller gets the error, as a copy of
    its own so that no two tasks raise (and add their tracebacks to) one exception object."""
    for queued in batch:
        try:
            queued.error = type(exc)(*exc.args)
        except Exception:
            queued.error = exc
        queued.result = None


class _Writer:
    """The write connection and the one thread that uses it."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self.conn = conn
        self._thread = thread
        self.closed = False

    @classmethod
    async def connect(cls, path: str) -> _Writer:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        try:
            opened = asyncio.get_running_loop().run_in_executor(thread, _connect_here, path)
            return cls(await opened, thread)
        except BaseException:
            thread.shutdown(wait=False)
            raise

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` in the writer's thread (with the caller's context variables), in one trip."""
        context = contextvars.copy_context()
        return asyncio.get_running_loop().run_in_executor(self._thread, partial(context.run, fn, *args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`submit`, awaited."""
        return await self.submit(fn, *args)

    def begin(self) -> None:
        """`BEGIN IMMEDIATE` (in the writer's thread): another process's write lock → `DatabaseBusy`."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise DatabaseBusy(str(exc)) from None
            raise

    def commit(self) -> None:
        """COMMIT, or roll back and say why (in the writer's thread)."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK")
            if _busy(exc):
                raise DatabaseBusy(str(exc)) from None
            raise

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def run(self, batch: list[_Queued]) -> None:
        """Queued transactions, one after the other in one write transaction (BEGIN ... COMMIT), here in
        the writer's thread: each `work` sees what the ones before it wrote, and each that fails is undone
        alone (back to its savepoint), so every caller gets what its own transaction alone would have
        given, at one commit for all of them. An error of the batch itself (the file locked by another
        process, a failed COMMIT) is every caller's, and nothing of any of them was written."""
        try:
            self.begin()
        except Exception as exc:
            _fail(batch, exc)
            return
        try:
            if len(batch) == 1:  # alone, no savepoint: its error rolls the whole transaction back
                if not batch[0].run(self.conn):
                    self.rollback()
                    return
            else:
                for queued in batch:
                    self.conn.execute("SAVEPOINT work")
                    if not queued.run(self.conn):
                        self.conn.execute("ROLLBACK TO work")
                    self.conn.execute("RELEASE work")
            self.commit()
        except Exception as exc:
            self.rollback()
            _fail(batch, exc)

    async def close(self) -> None:
        """Close the connection and let the thread end; closing again does nothing."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.call(self.conn.close)
        finally:
            self._thread.shutdown(wait=False)


def _connect_here(path: str) -> sqlite3.Connection:
    """The writer's connection, opened in its own thread (the only one that will use it)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # we issue BEGIN ourselves
    try:
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            conn.execute(pragma)
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteDatabase(Database):
    """The default store: one file, no server, safe for several processes through SQLite's own locks."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, writer: _Writer, readers: list[aiosqlite.Connection]) -> None:
        self._writer = writer
        self._readers = readers  # empty for an in-memory database: reads share the writer
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._lock = asyncio.Lock()
        self._queued: list[_Queued] = []  # `transaction`s waiting for the next batch

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
        if not memory:
            _probe(path)
        writer = await _Writer.connect(":memory:" if memory else path)
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
            for pragma in PRAGMAS:
                await conn.execute_fetchall(pragma)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """`work(tx)` as one write transaction, run in the writer's thread with no trip per statement.

        `work` must await only `tx`'s statements (it runs where no event loop is); the money paths
        (reserve, settle, account changes) are written that way. Transactions that arrive while the writer
        is busy wait together and then go in one trip and one commit (group commit, see `_Writer.run`):
        under load a reserve-and-settle costs a share of a trip and of a commit, not a whole one each.
        Like `write()`, a batch holds the in-process lock and takes the file's write lock first
        (`BEGIN IMMEDIATE`). A caller cancelled once its batch has started does not stop it: its
        transaction commits or rolls back whole, as a PostgreSQL commit whose answer was lost would (the
        ledger sweeps a hold nobody received).
        """
        loop = asyncio.get_running_loop()
        queued = _Queued(work, contextvars.copy_context(), loop.create_future())  # type: ignore[arg-type]
        self._queued.append(queued)
        try:
            async with self._lock:  # one batch at a time, never inside a `write()`
                # Only a caller whose own work is still waiting starts a batch: one whose work went in a
                # batch another caller started just lets the lock go, so the work queued meanwhile waits
                # for its own callers and goes in one batch, not in one trip each.
                if not queued.started:
                    batch, self._queued = self._queued, []
                    for each in batch:
                        each.started = True
                    trip = self._writer.submit(self._writer.run, batch)
                    trip.add_done_callback(lambda _: _hand_out(batch))
                    await asyncio.shield(trip)  # cancelled or not, the batch goes on for the others
        except asyncio.CancelledError:
            if not queued.started:  # nothing of it was written
                self._queued.remove(queued)
            raise
        return await queued.finished  # type: ignore[no-any-return]

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """`BEGIN IMMEDIATE` under the in-process lock: the file's write lock is taken before the first read,
        so a check and the write it guards can't interleave with another process's (busy → `DatabaseBusy`).
        One trip to the writer's thread per statement: for bodies that wait on other things in between."""
        writer = self._writer
        async with self._lock:
            await writer.call(writer.begin)
            try:
                yield _TripTx(writer)
            except BaseException:
                await writer.call(writer.rollback)
                raise
            await writer.call(writer.commit)

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[_Statements]:
        """An idle reader connection for one read (waiting while all are busy), never the writer's lock;
        an in-memory database has one connection, shared under the lock."""
        if not self._readers:
            async with self._lock:
                yield _TripTx(self._writer)
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
