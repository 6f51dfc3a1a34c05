"""Where the ledger and the conversations keep their rows: one SQL text, SQLite (default) or PostgreSQL.

`open_database(DATABASE_URL)` picks the driver and brings the schema up to date. Drivers are imported
only when a URL names them, so asyncpg stays an optional extra; they import `bot.storage.base` alone,
never this module, so there is no import cycle.
"""

from __future__ import annotations

from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Turn, Tx
from bot.storage.migrations import SCHEMA_VERSION, migrate
from bot.storage.transfer import Tally, export_ledger, import_ledger

__all__ = [
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
    (DATABASE_POOL_SIZE) bounds a PostgreSQL process's connections; SQLite always uses two.
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
        await migrate(database)
    except BaseException:
        await database.close()
        raise
    return database
