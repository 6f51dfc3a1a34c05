"""One SQL text, two drivers: SQLite (default) and PostgreSQL.

SQL is written once with `?` placeholders; the PostgreSQL driver rewrites them. `write()` is a serialised
write transaction: `BEGIN IMMEDIATE` on SQLite, an ordinary transaction on PostgreSQL whose callers lock
rows with `tx.lock` (`FOR UPDATE`) in a fixed order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

Row = Mapping[str, Any]


class DatabaseBusy(Exception):
    """The database stayed locked by someone else past the timeout; the request changed nothing."""


class DatabaseError(Exception):
    """The database cannot be opened or used (one line, for start-up)."""


class Tx(ABC):
    lock: str  # " FOR UPDATE" on PostgreSQL, "" on SQLite (whose write lock covers the whole file)

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> None: ...

    @abstractmethod
    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]: ...


class Database(ABC):
    dialect: Literal["sqlite", "postgres"]

    @abstractmethod
    def write(self) -> AbstractAsyncContextManager[Tx]:
        """A serialised write transaction, committed on exit, rolled back on an exception."""

    @abstractmethod
    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    @abstractmethod
    async def fetchall(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None:
        async with self.write() as tx:
            await tx.execute(sql, *args)

    @abstractmethod
    async def close(self) -> None: ...


async def open_database(url: str) -> Database:
    """Open the database named by DATABASE_URL and bring its schema up to date."""
    from bot.ledger.schema import migrate

    database: Database
    if url.startswith("sqlite://"):
        from bot.ledger.sqlite import SqliteDatabase

        database = await SqliteDatabase.open(url.removeprefix("sqlite://").removeprefix("/"))
    elif url.startswith(("postgres://", "postgresql://")):
        from bot.ledger.postgres import PostgresDatabase

        database = await PostgresDatabase.open(url)
    else:
        raise DatabaseError("DATABASE_URL: must start with sqlite://, postgres:// or postgresql://")
    try:
        await migrate(database)
    except BaseException:
        await database.close()
        raise
    return database
