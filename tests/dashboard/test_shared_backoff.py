"""The sign-in back-off is the database's, not a process's: two dashboards on one database (two web
workers: two `open_database` on one SQLite file, and on one PostgreSQL schema) back a client off together,
a restart keeps it, IPv6 clients count by /64, and a database that can't record a try leaves the decision
to the process's memory (neither everyone in nor everyone out).

aiohttp's test client connects from 127.0.0.1, trusted here as a proxy, so X-Forwarded-For names clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

import bot.dashboard.app
import bot.dashboard.backoff
from bot.dashboard.backoff import FREE_TRIES, KEEP, PRUNE_EVERY, Backoff, client_of
from bot.storage import Database, DatabaseBusy, Row, Tx, open_database
from bot.web import web_app
from bot.web_limits import RepeatThrottle
from tests.dashboard.site import TOKEN
from tests.doubles import Clock
from tests.harness import harness

STRANGER_AT = "203.0.113.7"
OWNER_AT = "198.51.100.2"
T = TypeVar("T")


@asynccontextmanager
async def dashboards(
    tmp_path: Path, url: str, clock: Clock, count: int = 2
) -> AsyncIterator[list[TestClient[Any, Any]]]:
    """`count` bot processes' web servers on one database, each with its own core and connections."""
    async with AsyncExitStack() as stack:
        clients: list[TestClient[Any, Any]] = []
        for _ in range(count):
            h = await stack.enter_async_context(
                harness(tmp_path, clock, database_url=url, admin_api_token=TOKEN, trusted_proxies="127.0.0.1")
            )
            server = TestServer(web_app(h.core, h.settings))
            clients.append(await stack.enter_async_context(TestClient(server)))
        yield clients


async def sign_in(client: TestClient[Any, Any], token: str, at: str) -> tuple[int, int | None]:
    """The status of a sign-in from `at`, and its Retry-After (seconds) when it was refused."""
    async with client.post(
        "/dashboard/login",
        data={"token": token},
        headers={"X-Forwarded-For": at},
        allow_redirects=False,
    ) as response:
        after = response.headers.get("Retry-After")
        return response.status, int(after) if after is not None else None


async def miss_free_tries(client: TestClient[Any, Any], at: str) -> None:
    for _ in range(FREE_TRIES):
        assert await sign_in(client, "wrong", at) == (401, None)


async def test_wrong_tries_through_one_process_back_the_client_off_in_another(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    async with dashboards(tmp_path, database_url, clock) as (a, b):
        await miss_free_tries(a, STRANGER_AT)
        assert await sign_in(b, "wrong", STRANGER_AT) == (401, None)  # the 4th, in B: starts a wait
        assert await sign_in(a, TOKEN, STRANGER_AT) == (429, 2)  # A never saw it, and still refuses
        assert (await sign_in(a, TOKEN, OWNER_AT))[0] == 303  # someone else is not slowed
        clock.advance(seconds=1.5)
        assert await sign_in(b, TOKEN, STRANGER_AT) == (429, 1)
        clock.advance(seconds=0.5)
        assert await sign_in(a, "wrong", STRANGER_AT) == (401, None)  # the 5th: twice as long
        assert await sign_in(b, TOKEN, STRANGER_AT) == (429, 4)
        clock.advance(seconds=4)
        assert (await sign_in(b, TOKEN, STRANGER_AT))[0] == 303  # a right token after the wait
        await miss_free_tries(a, STRANGER_AT)  # ... started the client afresh, everywhere
        assert await sign_in(b, "wrong", STRANGER_AT) == (401, None)
        assert await sign_in(a, "wrong", STRANGER_AT) == (429, 2)


async def test_tries_at_once_in_both_processes_as_a_wait_ends_count_once(
    tmp_path: Path, database_url: str
) -> None:
    """The check and the count are one statement: of tries arriving together, the first starts the next
    wait and the others meet it, so a burst spread over the workers tests one token, not one each."""
    clock = Clock()
    async with dashboards(tmp_path, database_url, clock) as (a, b):
        await miss_free_tries(a, STRANGER_AT)
        results = await asyncio.gather(*(sign_in(c, "wrong", STRANGER_AT) for c in (a, b) * 4))
        assert sorted(results, key=lambda r: r[0]) == [(401, None)] + [(429, 2)] * 7


async def test_a_restart_keeps_the_back_off(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    async with dashboards(tmp_path, database_url, clock, count=1) as (a,):
        await miss_free_tries(a, STRANGER_AT)
        assert await sign_in(a, "wrong", STRANGER_AT) == (401, None)
    clock.advance(seconds=1)
    async with dashboards(tmp_path, database_url, clock, count=1) as (restarted,):
        assert await sign_in(restarted, TOKEN, STRANGER_AT) == (429, 1)
        clock.advance(seconds=1)
        assert await sign_in(restarted, "wrong", STRANGER_AT) == (401, None)  # counting on: the 5th
        assert await sign_in(restarted, TOKEN, STRANGER_AT) == (429, 4)


async def test_ipv6_clients_in_one_64_share_a_back_off(tmp_path: Path) -> None:
    clock = Clock()
    async with dashboards(tmp_path, f"sqlite:///{tmp_path}/capbot.db", clock) as (a, b):
        for n in range(FREE_TRIES + 1):  # a new address for every try, all in 2001:db8:1:2::/64
            assert await sign_in(a, "wrong", f"2001:db8:1:2::{n + 1:x}") == (401, None)
        assert await sign_in(b, TOKEN, "2001:db8:1:2:ffff:ffff:ffff:ffff") == (429, 2)
        assert (await sign_in(b, TOKEN, "2001:db8:1:3::1"))[0] == 303  # the next /64 is someone else
        assert (await sign_in(a, TOKEN, "2001:db8:2:2::1"))[0] == 303


async def test_ipv4_mapped_ipv6_is_the_ipv4_client(tmp_path: Path) -> None:
    clock = Clock()
    async with dashboards(tmp_path, f"sqlite:///{tmp_path}/capbot.db", clock) as (a, b):
        await miss_free_tries(a, f"::ffff:{STRANGER_AT}")
        assert await sign_in(b, "wrong", STRANGER_AT) == (401, None)
        assert await sign_in(a, TOKEN, f"::ffff:{STRANGER_AT}") == (429, 2)
        assert await sign_in(b, TOKEN, STRANGER_AT) == (429, 2)


@pytest.mark.parametrize(
    ("remote", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::1", "::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("unix-socket", "unix-socket"),  # not an address: as it is
        (None, "unknown"),
    ],
)
def test_the_client_a_try_counts_against(remote: str | None, client: str) -> None:
    assert client_of(remote) == client


class Busy(Database):
    """A database whose writes, once `busy` is set, time out on someone else's lock (a busy SQLite file,
    a lost PostgreSQL connection: both raise `DatabaseBusy`)."""

    def __init__(self, real: Database) -> None:
        self.real = real
        self.dialect = real.dialect
        self.busy = False
        self.tries = 0

    def write(self) -> Any:
        raise AssertionError("the back-off writes through `transaction`")

    async def transaction(self, work: Callable[[Tx], Awaitable[T]]) -> T:
        self.tries += 1
        if self.busy:
            raise DatabaseBusy("the database is locked")
        return await self.real.transaction(work)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        return await self.real.fetchone(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Row]:
        return await self.real.fetchall(sql, *args)

    async def close(self) -> None:
        return None


async def test_a_busy_database_leaves_each_try_to_the_process_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong tokens still back the client off (in this process), a right one still signs in: the owner
    is not locked out, and nobody is let in by a wrong token."""
    injected: list[Busy] = []

    def backoff_on_busy(db: Database, clock: Callable[[], datetime]) -> Backoff:
        injected.append(Busy(db))
        return Backoff(injected[-1], clock)

    monkeypatch.setattr(bot.dashboard.app, "Backoff", backoff_on_busy)
    monkeypatch.setattr(bot.dashboard.backoff, "UNRECORDED", RepeatThrottle(interval=60.0))  # a fresh minute
    clock = Clock()
    async with dashboards(tmp_path, f"sqlite:///{tmp_path}/capbot.db", clock, count=1) as (a,):
        (db,) = injected
        await miss_free_tries(a, STRANGER_AT)  # recorded in the database, and seen by this process
        db.busy = True
        with caplog.at_level("WARNING", logger="bot.dashboard.backoff"):
            assert await sign_in(a, "wrong", STRANGER_AT) == (401, None)  # the 4th, from memory
            assert await sign_in(a, TOKEN, STRANGER_AT) == (429, 2)
            assert (await sign_in(a, TOKEN, OWNER_AT))[0] == 303  # the owner signs in meanwhile
            assert (await sign_in(a, "wrong", OWNER_AT))[0] == 401
            clock.advance(seconds=2)
            assert (await sign_in(a, TOKEN, STRANGER_AT))[0] == 303
        assert db.tries == FREE_TRIES + 4  # the refused try was never sent to the database
        warnings = [m for m in caplog.messages if "could not record a sign-in try" in m]
        assert len(warnings) == 1  # once a minute, not once a try
        db.busy = False  # the database is back, and knows nothing of the misses it could not record
        assert (await sign_in(a, "wrong", OWNER_AT))[0] == 401
        row = await db.fetchone("SELECT misses FROM sign_in_tries WHERE client = ?", OWNER_AT)
        assert row is not None and int(row["misses"]) == 1


async def test_old_rows_are_pruned_and_the_table_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.dashboard.backoff, "KEPT_ROWS", 2)
    clock = Clock()
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    try:
        backoff = Backoff(db, clock)

        async def clients() -> list[str]:
            rows = await db.fetchall("SELECT client FROM sign_in_tries ORDER BY tried_ms")
            return [str(r["client"]) for r in rows]

        for n in range(4):
            assert await backoff.tried(f"192.0.2.{n}", right=False) is None
            clock.advance(minutes=1)
        assert await clients() == [f"192.0.2.{n}" for n in range(4)]
        clock.advance(seconds=PRUNE_EVERY.total_seconds())
        assert await backoff.tried("192.0.2.9", right=True) is None  # prunes: the two newest stay
        assert await clients() == ["192.0.2.3", "192.0.2.9"]
        clock.advance(seconds=KEEP.total_seconds() + 1)
        assert await backoff.tried("192.0.2.10", right=False) is None  # a day later: only itself
        assert await clients() == ["192.0.2.10"]
    finally:
        await db.close()
