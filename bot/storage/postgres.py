"""PostgreSQL through asyncpg (install the `postgres` extra). Same SQL as SQLite, `?` → `$n`.

Write transactions rely on row locks (`tx.lock` = FOR UPDATE) taken in a fixed order by the ledger:
the account's users row, then the global row (a merge: both users rows, sorted), so concurrent
reservations queue instead of racing. Reads take no locks, so a writer re-reads, once its row is locked,
whatever a merge could have changed before it (the identity's account: `Accounts._on_account`).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from bot.redact import Redactor
from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Tx

_PLACEHOLDER = re.compile(r"\?")


def to_dollar_params(sql: str) -> str:
    """`a = ? AND b = ?` → `a = $1 AND b = $2` (our SQL has no literal question marks)."""
    count = 0

    def number(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def server_named(url: str) -> str:
    """ "host db.example.org port 5432, database capbot, role bot": where a connection went, as libpq
    fills in what the URL leaves out (PGHOST and friends, then its defaults). Never the password."""
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # several hosts, or a port that is not a number: say what was written
        host, port = parts.netloc.rpartition("@")[2], None
    host = host or query.get("host") or os.environ.get("PGHOST") or "localhost"
    port_text = str(port or query.get("port") or os.environ.get("PGPORT") or 5432)
    role = unquote(parts.username or "") or query.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    database = unquote(parts.path.lstrip("/")) or query.get("dbname") or os.environ.get("PGDATABASE") or role
    return f"host {host} port {port_text}, database {database}, role {role}"


def cause(exc: BaseException, url: str) -> str:
    """The driver's first line about the failure, with the URL's password masked should it appear."""
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    password = unquote(urlsplit(url).password or "")
    return Redactor([password, url]).redact(text) if password else text


class _PostgresTx(Tx):
    lock = " FOR UPDATE"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(to_dollar_params(sql), *args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(to_dollar_params(sql), *args)
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._conn.fetch(to_dollar_params(sql), *args)]


class PostgresDatabase(Database):
    """For several machines or heavy load: a connection pool, transactions serialised by row locks."""

    dialect: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, server_settings: dict[str, str] | None = None) -> PostgresDatabase:
        """Connect a pool; a missing asyncpg or an unreachable server is one `DatabaseError` line.

        `server_settings` are per-connection settings (tests use `search_path` for a private schema).
        """
        try:
            import asyncpg
        except ImportError:
            raise DatabaseError(
                "DATABASE_URL: PostgreSQL needs asyncpg; install with pip install 'capbot[postgres]'"
            ) from None
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=10, command_timeout=30, server_settings=server_settings
            )
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseError(
                f"DATABASE_URL: cannot connect to PostgreSQL at {server_named(url)}: {cause(exc, url)}"
            ) from None
        return cls(pool)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """A pooled connection's transaction; callers serialise with `tx.lock` row locks in a fixed order."""
        import asyncpg

        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield _PostgresTx(conn)
            except asyncpg.exceptions.LockNotAvailableError as exc:
                raise DatabaseBusy(str(exc)) from None

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """On any pooled connection, outside a transaction: reads never wait for a writer's locks."""
        async with self._pool.acquire() as conn:
            return await _PostgresTx(conn).fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Many rows, read as `fetchone` reads."""
        async with self._pool.acquire() as conn:
            return await _PostgresTx(conn).fetchall(sql, *args)

    async def close(self) -> None:
        """Close the pool, so the server sees a clean disconnect rather than dropped sockets."""
        await self._pool.close()
