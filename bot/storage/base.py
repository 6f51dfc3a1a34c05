"""What every driver provides: `Database`, `Tx`, `Row` and the two errors callers act on.

The drivers (`sqlite.py`, `postgres.py`) and the migrations import only this module, so nothing a driver
imports ever imports the driver back (`bot.storage.open_database` loads a driver only when a URL names it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, Literal, TypeVar

from bot.refusals import Refusal

Row = Mapping[str, Any]
T = TypeVar("T")


class DatabaseBusy(Refusal):
    """The database stayed locked by someone else past the timeout; the request changed nothing."""


class DatabaseError(Exception):
    """The database cannot be opened or used (one line, for start-up)."""


class Tx(ABC):
    """One write transaction: every statement of a money change sees and commits together, or not at all."""

    lock: str  # " FOR UPDATE" on PostgreSQL, "" on SQLite (whose write lock covers the whole file)
    # whether write transactions run one at a time (SQLite): nothing another writer commits can land
    # between two statements of this one, so what it read stays true until it commits
    serialised: bool

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None:
        """Run a statement inside the transaction, so it commits or rolls back with the rest."""

    @abstractmethod
    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """Read inside the transaction: sees its own uncommitted writes and the rows it has locked."""

    @abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Read many rows inside the transaction (see `fetchone`)."""


class Turn:
    """One place in a line of work for one key: `taken` waits for the places before it, `close` ends it.

    This base class is the turn of a database only one process uses (SQLite): in-process order suffices
    there, so the turn is taken at once and closing it frees nothing.
    """

    async def taken(self) -> None:
        """Wait until every turn lined up before this one (for the same key) has been closed."""

    async def close(self) -> None:
        """End the turn, or leave the line if it was not taken yet; closing twice is harmless."""


class Database(ABC):
    """One SQL text, two drivers: callers write SQL once with `?` placeholders and `tx.lock`.

    `write()` is a serialised write transaction: `BEGIN IMMEDIATE` on SQLite, an ordinary transaction on
    PostgreSQL whose callers lock rows with `tx.lock` (`FOR UPDATE`) in a fixed order.
    """

    dialect: Literal["sqlite", "postgres"]
    # Whether other processes may be answering on this database and can be told things (`publish`,
    # `listen`): PostgreSQL. A SQLite file is one host's, and typically one process's.
    shared = False

    @abstractmethod
    def write(self) -> AbstractAsyncContextManager[Tx]:
        """A serialised write transaction, committed on exit, rolled back on an exception."""

    @abstractmethod
    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """A read outside any write: it never waits for a writer and never sees uncommitted work."""

    @abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Many rows, read as `fetchone` reads."""

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        """`work(tx)` as one write transaction (as `write()`), returning what it returns.

        For the hot paths (reserve, settle, account changes): `work` awaits nothing but `tx`'s statements,
        so a driver may run all of it at once where the database is (SQLite runs it in its writer's thread,
        one trip instead of one per statement). Here, simply `write()`.
        """
        async with self.write() as tx:
            return await work(tx)

    async def execute(self, sql: str, *args: Any) -> None:
        """A one-statement write, for changes that need no read before them (heartbeats, migrations)."""

        async def one(tx: Tx) -> None:
            await tx.execute(sql, *args)

        await self.transaction(one)

    async def line_up(self, key: str) -> Turn:
        """A place in `key`'s line, fixed by the time this returns: turns are taken in the order they lined
        up, across every process on this database. `key` is opaque (adapters pass an identity).

        Several processes can receive one person's messages (web workers behind a load balancer), and the
        answers should still come in the order asked. This default is for a database only one process
        uses; PostgreSQL overrides it.
        """
        return Turn()

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Line up for `key` and hold the turn for the block."""
        turn = await self.line_up(key)
        try:
            await turn.taken()
            yield
        finally:
            await turn.close()

    async def publish(self, channel: str, payload: str) -> None:
        """Tell every process listening on `channel` (in this bot's schema) `payload`, at once, without
        waiting for anyone to hear it. Here, with nobody else to tell, nothing."""
        return None

    def listen(self, channel: str, receive: Callable[[str], None]) -> AbstractAsyncContextManager[None]:
        """Hear `channel` while the block runs: `receive(payload)` is called in the event loop for every
        `publish` from any process (this one too), and must not block. Here nobody else publishes."""
        return nullcontext()

    @abstractmethod
    async def close(self) -> None:
        """Release connections (and aiosqlite's threads, which would otherwise keep the process alive)."""
