"""PostgreSQL through asyncpg (install the `postgres` extra). Same SQL as SQLite, `?` → `$n`.

Write transactions rely on row locks (`tx.lock` = FOR UPDATE) taken in a fixed order by the ledger:
the account's users row, then the global row (a reserve under a global cap; a merge: both users rows,
sorted), so concurrent reservations queue instead of racing. Reads take no locks, so a writer re-reads,
once its row is locked, whatever a merge could have changed before it (the identity's account:
`Accounts._on_account`).

Turns (`line_up`) are session-level advisory locks on connections of a second pool, so a long wait in
line never takes a connection the ledger needs. Notices between processes (`publish`, `listen`) are
NOTIFY from the pool and LISTEN on a connection of their own (`postgres_notices`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from bot.redact import Redactor
from bot.storage.base import Database, DatabaseBusy, DatabaseError, Row, Turn, Tx
from bot.storage.postgres_notices import Listener, channel_name

_PLACEHOLDER = re.compile(r"\?")
T = TypeVar("T")
READ_ATTEMPTS = 3  # a read on a lost connection is tried again on a fresh one, this many times in all
CLOSE_LIMIT = 5.0  # seconds closing the turns pool may wait for a turn still open
LINED_UP_POLL = 0.002  # seconds between looks at pg_locks while a turn's request reaches the server


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    """What asyncpg raises when the server or the network drops a connection (a restart, a failover, an
    administrator's pg_terminate_backend), as opposed to a refusal of the query itself."""
    try:
        from asyncpg import exceptions
    except ImportError:  # the `postgres` extra is missing: `open` says so before anything is run
        return (OSError,)
    return (
        OSError,
        exceptions.PostgresConnectionError,
        exceptions.AdminShutdownError,
        exceptions.CrashShutdownError,
        exceptions.CannotConnectNowError,
    )


_LOST = _lost_connection_errors()


def _was_lost(exc: BaseException, conn: Any) -> bool:
    """Whether `exc` means the connection is gone (asyncpg also says so with a plain InterfaceError when a
    transaction ends on a connection the server already closed), rather than a refusal of the query."""
    if isinstance(exc, _LOST):
        return True
    try:
        return bool(conn.is_closed())
    except Exception:  # the pool has already detached the dead connection from its proxy
        return True


async def _nothing_to_reset(conn: Any) -> None:
    """The ledger pool's reset on release: none. asyncpg's default sends a statement on every release
    (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`), a second round trip for each
    one-statement read; nothing run on this pool changes session state (no SET, LISTEN, cursor held past
    a transaction or session advisory lock: turns have a pool of their own, which keeps the default
    reset), and asyncpg still rolls back a transaction left open before this is called."""


def _lost(exc: BaseException) -> DatabaseBusy:
    return DatabaseBusy(f"the connection to PostgreSQL was lost ({type(exc).__name__})")


@contextlib.contextmanager
def _refusals(conn: Any) -> Iterator[None]:
    """A write's errors as callers act on them: a lock not granted at once, or a connection lost
    mid-statement, is `DatabaseBusy` ("try again"); anything else is raised as it is."""
    import asyncpg

    try:
        yield
    except asyncpg.exceptions.LockNotAvailableError as exc:
        raise DatabaseBusy(str(exc)) from None
    except Exception as exc:
        if _was_lost(exc, conn):
            raise _lost(exc) from None
        raise


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
    serialised = False

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(to_dollar_params(sql), *args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(to_dollar_params(sql), *args)
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._conn.fetch(to_dollar_params(sql), *args)]


def turn_key(key: str, namespace: str) -> int:
    """The advisory lock key of `key`'s turns: a stable signed 64-bit hash, the same in every process.

    `namespace` is the schema, so bots (or tests) sharing one database in separate schemas never wait for
    each other. A collision with another key (or with the migration lock) only makes two lines one.
    """
    digest = hashlib.sha256(f"capbot turn\0{namespace}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PostgresTurn(Turn):
    """A session-level advisory lock requested on a connection of its own, which it keeps until closed.

    The server queues waiters for one lock first come, first served, so the order in which requests reach
    it is the order of the turns.
    """

    def __init__(self, pool: Any, conn: Any, key: int, request: asyncio.Task[Any]) -> None:
        self._pool = pool
        self._conn: Any | None = conn
        self._key = key
        self._request = request

    async def taken(self) -> None:
        try:
            await asyncio.shield(self._request)
        except Exception as exc:
            raise _lost(exc) from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not self._request.done():  # still waiting: leave the line (asyncpg cancels the query)
                self._request.cancel()
                with contextlib.suppress(BaseException):
                    await self._request
            elif not self._request.cancelled() and self._request.exception() is None:
                with contextlib.suppress(Exception):  # a lost connection has freed the lock already
                    await conn.execute("SELECT pg_advisory_unlock($1)", self._key)
        finally:
            # the pool's reset also unlocks whatever the session still holds, should anything be left
            await self._pool.release(conn)


class PostgresDatabase(Database):
    """For several machines or heavy load: a connection pool, transactions serialised by row locks."""

    dialect: Literal["sqlite", "postgres"] = "postgres"
    shared = True

    def __init__(
        self,
        pool: Any,
        turns: Any = None,
        namespace: str = "",
        *,
        pool_size: int = 10,
        connect: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._pool = pool
        self._connect = connect  # a connection outside the pools, for `listen`
        # Reads may take at most half the pool at once, so however many reports run, a reserve or a settle
        # always finds a connection (with one connection in all, they share it).
        self._reads = asyncio.Semaphore(max(1, pool_size // 2))
        self._turns = turns  # connections that hold turns (`line_up`), apart from `_pool`
        self._namespace = namespace

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = 10, server_settings: dict[str, str] | None = None
    ) -> PostgresDatabase:
        """Connect a pool of at most `pool_size` connections; a missing asyncpg or an unreachable server is
        one `DatabaseError` line.

        Turns (`line_up`) get a second pool of at most `pool_size` connections, opened only as turns are
        taken (a process that never lines up, like a polling bot, opens none): a turn keeps its connection
        while it waits and while the answer runs, and reserves and settles must never queue behind it.
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
                url,
                min_size=1,
                max_size=pool_size,
                command_timeout=30,
                server_settings=server_settings,
                reset=_nothing_to_reset,
            )
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseError(
                f"DATABASE_URL: cannot connect to PostgreSQL at {server_named(url)}: {cause(exc, url)}"
            ) from None
        try:
            namespace = str(await pool.fetchval("SELECT current_schema()") or "")
            # no command timeout: waiting for a turn lasts as long as the answers before it
            turns = await asyncpg.create_pool(
                url, min_size=0, max_size=pool_size, command_timeout=None, server_settings=server_settings
            )
        except BaseException:
            await pool.close()
            raise

        async def connect() -> Any:  # for `listen`: the pools' URL and settings
            return await asyncpg.connect(url, command_timeout=30, server_settings=server_settings)

        return cls(pool, turns, namespace, pool_size=pool_size, connect=connect)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """A pooled connection's transaction; callers serialise with `tx.lock` row locks in a fixed order.

        A connection lost mid-transaction is `DatabaseBusy`: the request is refused with "try again", and
        whatever the transaction did is either rolled back by the server or, if the commit landed before
        the answer was lost, safe anyway (a hold is settled once; a hold nobody was handed is released by
        the ledger's sweep). It is not retried here, because only the caller knows if that is safe.
        """
        async with self._pool.acquire() as conn:
            with _refusals(conn):
                async with conn.transaction():
                    yield _PostgresTx(conn)

    async def execute(self, sql: str, *args: Any) -> None:
        """One statement on its own (autocommit): as atomic as a transaction around it, in one round trip
        instead of three (BEGIN, it, COMMIT). Refusals and lost connections read as in `write`."""
        async with self._pool.acquire() as conn:
            with _refusals(conn):
                await conn.execute(to_dollar_params(sql), *args)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        """On a pooled connection, outside a transaction: reads never wait for a writer's locks, and never
        take the connections writes need (at most half the pool reads at once)."""
        return await self._read(lambda tx: tx.fetchone(sql, *args))

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        """Many rows, read as `fetchone` reads."""
        return await self._read(lambda tx: tx.fetchall(sql, *args))

    async def _read(self, query: Callable[[_PostgresTx], Awaitable[T]]) -> T:
        """A read, tried again on a fresh connection when the one it had was lost (reads change nothing,
        so repeating one is always safe); `DatabaseBusy` when the server stays unreachable."""
        for attempt in range(READ_ATTEMPTS):
            async with self._reads, self._pool.acquire() as conn:
                try:
                    return await query(_PostgresTx(conn))
                except Exception as exc:
                    if not _was_lost(exc, conn):
                        raise
                    if attempt == READ_ATTEMPTS - 1:
                        raise _lost(exc) from None
            await asyncio.sleep(0.05 * 4**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def line_up(self, key: str) -> Turn:
        """Request `key`'s advisory lock on a turns connection, and return once the server has it queued
        (or granted): from then on, a turn lined up anywhere later comes after this one.

        The request is in flight on its own connection, so whether the server has queued it is read in
        pg_locks from another; that takes a look or two. `DatabaseBusy` when the server can't be reached.
        """
        if self._turns is None:  # opened on a bare pool (no turns pool): one process, in-process order
            return Turn()
        lock = turn_key(key, self._namespace)
        try:
            conn = await self._turns.acquire()
        except Exception as exc:
            raise _lost(exc) from None
        request = asyncio.ensure_future(conn.execute("SELECT pg_advisory_lock($1)", lock))
        turn = _PostgresTurn(self._turns, conn, lock, request)
        try:
            pid = conn.get_server_pid()
            while not request.done():
                queued = await self.fetchone(
                    "SELECT 1 AS queued FROM pg_locks WHERE locktype = 'advisory' AND pid = ?", pid
                )
                if queued is not None:
                    break
                await asyncio.wait({request}, timeout=LINED_UP_POLL)
            failed = request.exception() if request.done() and not request.cancelled() else None
            if failed is not None:
                raise _lost(failed)
        except BaseException:
            await turn.close()
            raise
        return turn

    async def publish(self, channel: str, payload: str) -> None:
        """NOTIFY on a pooled connection, outside a transaction, so it is sent at once."""
        try:
            await self._pool.execute(
                "SELECT pg_notify($1, $2)", channel_name(channel, self._namespace), payload
            )
        except Exception as exc:
            if isinstance(exc, _LOST):
                raise _lost(exc) from None
            raise

    @asynccontextmanager
    async def listen(self, channel: str, receive: Callable[[str], None]) -> AsyncIterator[None]:
        """LISTEN on a connection of its own, opened again should it be lost (see `postgres_notices`);
        opened on a bare pool (no way to connect apart from it), hear nothing."""
        if self._connect is None:
            yield
            return
        listener = Listener(self._connect, channel_name(channel, self._namespace), receive)
        try:
            await listener.open()
        except Exception as exc:
            raise _lost(exc) from None
        try:
            yield
        finally:
            await listener.close()

    async def close(self) -> None:
        """Close the pools, so the server sees a clean disconnect rather than dropped sockets."""
        if self._turns is not None:
            try:  # every turn has been closed by now; should one be stuck, don't wait for it forever
                await asyncio.wait_for(self._turns.close(), CLOSE_LIMIT)
            except TimeoutError:
                self._turns.terminate()
        await self._pool.close()
