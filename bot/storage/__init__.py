"""Where the ledger and the conversations keep their rows: one SQL text, SQLite (default) or PostgreSQL.

`open_database(DATABASE_URL)` picks the driver and brings the schema up to date. Drivers are imported
only when a URL names them, so asyncpg stays an optional extra; they import `bot.storage.base` alone,
never this module, so there is no import cycle.
"""

from __future__ import annotations

import asyncio

from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Turn, Tx
from bot.storage.migrations import SCHEMA_VERSION, migrate
from bot.storage.transfer import DAY_SECONDS, ROLLUP_COLUMNS, Tally, export_ledger, import_ledger

MIGRATION_PATIENCE = 60.0  # seconds a start-up waits for another process's migration to finish

__all__ = [
    "DAY_SECONDS",
    "ROLLUP_COLUMNS",
    "SCHEMA_VERSION",
    "Database",
    "DatabaseBusy",
    "DatabaseError",
    "Row",
    "Tally",
    "Turn",
    "Tx",
    "export_ledger",
    "import_ledger",
    "migrate",
    "open_database",
]


async def open_database(url: str, *, pool_size: int = 10) -> Database:
    """Open the database named by DATABASE_URL and bring its schema up to date.

    Every process migrates at start, so a new release never runs against an old schema; a database that
    can't be opened or migrated is closed again and reported as one `DatabaseError` line. `pool_size`
    (DATABASE_POOL_SIZE) bounds a PostgreSQL process's connections, at most half of them reading at once;
    SQLite uses one writer and a few readers.
    """
    database: Database
    if url.startswith("sqlite://"):
        from bot.storage.sqlite import SqliteDatabase

        database = await SqliteDatabase.open(url.removeprefix("sqlite://").removeprefix("/"))
    elif url.startswith(("postgres://", "postgresql://")):
        from bot.storage.postgres import PostgresDatabase

        database = await PostgresDatabase.open(url, pool_size=pool_size)
    else:
        raise DatabaseError("DATABASE_URL: must start with sqlite://, postgres:// or postgresql://")
    try:
        await _migrate_patiently(database)
    except BaseException:
        await database.close()
        raise
    return database


async def _migrate_patiently(database: Database) -> None:
    """Migrate, waiting while another process that started at the same moment holds the write lock for its
    own migration (SQLite gives up after its busy timeout; PostgreSQL queues on the advisory lock)."""
    deadline = asyncio.get_running_loop().time() + MIGRATION_PATIENCE
    while True:
        try:
            await migrate(database)
            return
        except DatabaseBusy as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise DatabaseError(
                    f"DATABASE_URL: the database stayed locked while migrating ({exc})"
                ) from None
        await asyncio.sleep(0.2)
