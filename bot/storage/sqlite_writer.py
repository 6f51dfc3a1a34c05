"""SQLite's writer: one connection used by one thread of its own, where whole transactions run.

Every trip between the event loop and a database thread costs a thread wake-up and a loop wake-up, far
more than a statement itself. A reserve or a settle is half a dozen statements; sent one at a time they
were most of a reserve-and-settle's cost. So a `transaction(work)` runs whole (BEGIN, every statement,
COMMIT) in this thread in one trip, which aiosqlite offers no public way to do; and the transactions that
arrive while the writer is busy wait together and go in the next trip, as one batch with one commit
(group commit), each in a savepoint of its own. Under load a reserve-and-settle then costs a share of a
trip and of a commit instead of a dozen trips and two commits.

The work of a transaction is an ordinary coroutine over `Tx` (the ledger's code is the same for
PostgreSQL); here its statements return at once, so it never suspends and `_drive` can finish it without
an event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, TypeVar

from bot.storage.base import DatabaseBusy, DatabaseError, Row, Tx

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000  # how long a writer waits for another process's write before `DatabaseBusy`


def pragmas() -> tuple[str, ...]:
    """What every connection (the writer and each reader) is set up with."""
    return (f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}", "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL")


def busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock (past the busy timeout)."""
    return "locked" in str(exc) or "busy" in str(exc)


def _fetch(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
    """Execute and read every row. Reading to the end resets the statement, so no cursor is left holding a
    read snapshot (and locks) alive."""
    return conn.execute(sql, args).fetchall()


class Statements(Tx):
    """A transaction's statements over some way of running `_fetch`; the subclasses say which."""

    lock = ""
    serialised = True

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        raise NotImplementedError  # each subclass runs `_fetch` its own way

    async def execute(self, sql: str, *args: Any) -> None:
        await self._rows(sql, args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """The first row (callers' queries return one row, or a few at most: all are read at once)."""
        rows = await self._rows(sql, args)
        return dict(rows[0]) if rows else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._rows(sql, args)]


class _InThreadTx(Statements):
    """Statements run at once, in the thread that calls them: the writer's, inside `transaction`. Its
    coroutines never suspend, which is what lets `_drive` finish a whole transaction without a loop."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return _fetch(self._conn, sql, args)


class TripTx(Statements):
    """Statements sent to the writer's thread one trip each: `write()`, whose body may await anything."""

    def __init__(self, writer: Writer) -> None:
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

    work: Callable[[Tx], Awaitable[Any]]  # a coroutine function, driven by `_drive`
    context: contextvars.Context
    finished: asyncio.Future[Any]
    started: bool = False  # taken into a batch: it will run, whether or not its caller still waits
    result: Any = None
    error: BaseException | None = None

    def run(self, conn: sqlite3.Connection) -> bool:
        """Run the work to its end in this thread, keeping its result or its error; whether it succeeded."""
        try:
            self.result = self.context.run(lambda: _drive(self.work(_InThreadTx(conn))))  # type: ignore[arg-type]
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


class _Thread:
    """One thread that runs what it is handed, in order, and hands each outcome back to the caller's loop.

    `loop.run_in_executor` would do, at about twice the loop's work per trip (a concurrent future, then
    an asyncio future chained to it); with two trips per reserve-and-settle that was a fifth of it.
    """

    def __init__(self) -> None:
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self.stopped = False
        self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Hand `fn(*args)` to the thread; after `stop`, refuse at once (nothing would ever run it)."""
        if self.stopped:
            raise DatabaseError("the database is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put(_Job(future, fn, args))
        return future

    def stop(self) -> None:
        """End the thread once what it was handed before is done."""
        self.stopped = True
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job.run()


@dataclass
class _Job:
    future: asyncio.Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]

    def run(self) -> None:
        """In the thread: run, then hand the result or the error to the loop (unless it has closed)."""
        try:
            outcome, failed = self.fn(*self.args), False
        except BaseException as exc:
            outcome, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting any more
            self.future.get_loop().call_soon_threadsafe(_resolve, self.future, outcome, failed)


def _resolve(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # the caller stopped waiting
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Writer:
    """The write connection, the one thread that uses it, and the in-process lock every write holds."""

    def __init__(self, conn: sqlite3.Connection, thread: _Thread) -> None:
        self.conn = conn
        self._thread = thread
        self.lock = asyncio.Lock()  # one batch or `write()` at a time (one connection, one transaction)
        self._queued: list[_Queued] = []  # transactions waiting for the next batch

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """`work(tx)` as one write transaction, run in this thread with no trip per statement; waiting
        with the others that arrive while the writer is busy, to go in one batch (see `run`).

        A caller cancelled before its batch starts writes nothing. One cancelled after does not stop it:
        its transaction commits or rolls back whole, as a PostgreSQL commit whose answer was lost would
        (the ledger sweeps a hold nobody received).
        """
        queued = _Queued(work, contextvars.copy_context(), asyncio.get_running_loop().create_future())
        self._queued.append(queued)
        try:
            async with self.lock:
                # Only a caller whose own work is still waiting starts a batch. One whose work went in a
                # batch another caller started lets the lock go: the work queued meanwhile then waits for
                # a caller of its own and goes in one batch, not in one trip each.
                if not queued.started:
                    batch, self._queued = self._queued, []
                    for each in batch:
                        each.started = True
                    try:
                        trip = self.submit(self.run, batch)
                    except DatabaseError as exc:  # closed: every caller in the batch hears it, none waits on
                        _fail(batch, exc)
                        _hand_out(batch)
                    else:
                        trip.add_done_callback(lambda _: _hand_out(batch))
                        await asyncio.shield(trip)  # cancelled or not, the batch goes on for the others
        except asyncio.CancelledError:
            if not queued.started:  # nothing of it was written
                self._queued.remove(queued)
            raise
        return await queued.finished  # type: ignore[no-any-return]

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """A transaction whose statements go one trip each, for bodies that wait on other things between
        them (a link's merge, an import, a migration): the lock is held from BEGIN to COMMIT."""
        async with self.lock:
            await self.call(self.begin)
            try:
                yield TripTx(self)
            except BaseException:
                await self.call(self.rollback)
                raise
            await self.call(self.commit)

    @classmethod
    async def connect(cls, path: str) -> Writer:
        thread = _Thread()
        try:
            return cls(await thread.submit(_connect_here, path), thread)
        except BaseException:
            thread.stop()
            raise

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` in the writer's thread, in one trip (a transaction's work carries its own context)."""
        return self._thread.submit(fn, *args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`submit`, awaited."""
        return await self.submit(fn, *args)

    def begin(self) -> None:
        """`BEGIN IMMEDIATE` (in the writer's thread): another process's write lock → `DatabaseBusy`."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if busy(exc):
                raise DatabaseBusy(str(exc)) from None
            raise

    def commit(self) -> None:
        """COMMIT, or roll back and say why (in the writer's thread)."""
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK")
            if busy(exc):
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
        if self._thread.stopped:
            return
        try:
            await self.call(self.conn.close)
        finally:
            self._thread.stop()


def _connect_here(path: str) -> sqlite3.Connection:
    """The writer's connection, opened in its own thread (the only one that will use it)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # we issue BEGIN ourselves
    try:
        conn.row_factory = sqlite3.Row
        for pragma in pragmas():
            conn.execute(pragma)
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
    except BaseException:
        conn.close()
        raise
    return conn
