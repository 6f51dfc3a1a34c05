"""The dashboard's sign-in back-off: wrong admin tokens slow their sender down, in every process.

After `FREE_TRIES` wrong tokens from one client, each further try must wait twice as long as the last
(`FIRST_WAIT`, doubling up to `MAX_WAIT`); a try during the wait is refused whatever token it carries, and
a right token once the wait is over signs in and starts the client afresh.

Shared: several processes may serve one port (web workers behind a load balancer), and a back-off kept in
each one's memory would give an attacker a fresh budget per worker, and a new one at every restart. So
each try is one upsert of the client's row in `sign_in_tries`: it counts the miss (or, for a right token,
starts afresh) only when the row's wait is over, and returns whether the try met a wait. The check and the
count are one atomic statement, so tries arriving at once in many processes as a wait ends can't all slip
through: the first starts the next wait and the rest meet it.

Each process also remembers the waits it has seen (`LocalBackoff`). A wait only ever ends by running out,
so a try this process already knows to be early is refused without reading it or asking the database. And
when the database can't take the upsert (busy, connection lost) that memory decides alone for that try,
as the back-off did before it was shared: neither everyone let in nor everyone locked out.

Keyed by client (`client_of`): an IPv4 address, or the /64 of an IPv6 address (one subscriber's usual
allocation, so a client can't escape by moving within it); IPv4-mapped IPv6 counts as IPv4. The address
is the client's as `bot.web_proxies` decides it behind trusted proxies.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Address, IPv6Network

from bot.storage import Database, Row, Tx
from bot.web_limits import RepeatThrottle
from bot.web_proxies import parse_address

log = logging.getLogger(__name__)

FREE_TRIES = 3
FIRST_WAIT = timedelta(seconds=2)
MAX_WAIT = timedelta(minutes=15)
TRACKED = 10_000  # clients each process remembers, the least recent forgotten first
KEEP = timedelta(days=1)  # a client silent this long starts afresh: its row is deleted
KEPT_ROWS = 100_000  # and at most this many rows stay, the least recently tried deleted first
PRUNE_EVERY = timedelta(minutes=10)
IPV6_PREFIX = 64
assert FREE_TRIES >= 1  # a client's first miss never waits: the upsert's insert starts without one
assert KEEP > MAX_WAIT  # pruning by age never ends a wait early

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
UNRECORDED = RepeatThrottle(interval=60.0)  # the warning when the database can't take a try


def client_of(remote: str | None) -> str:
    """Whom a try counts against: the IPv4 address, or the /64 of the IPv6 address (`2001:db8:1:2::/64`),
    of `remote` (`request.remote`); anything else (no address, a Unix socket) as it is."""
    found = parse_address(remote) if remote else None
    if found is None:
        return remote or "unknown"
    if isinstance(found, IPv6Address):
        host_bits = 128 - IPV6_PREFIX
        return str(IPv6Network(((int(found) >> host_bits) << host_bits, IPV6_PREFIX)))
    return str(found)


def _wait_after(misses: int) -> timedelta:
    """The wait that the `misses`-th wrong token in a row starts."""
    extra = misses - FREE_TRIES
    return timedelta(0) if extra <= 0 else min(FIRST_WAIT * 2 ** min(extra - 1, 20), MAX_WAIT)


class LocalBackoff:
    """One process's memory of the back-off: the waits it has seen, and the whole back-off for a try the
    database can't record."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._misses: OrderedDict[str, tuple[int, datetime]] = OrderedDict()

    def wait(self, client: str) -> timedelta | None:
        """How long `client` must still wait before its next try (None: it may try now)."""
        found = self._misses.get(client)
        if found is None:
            return None
        left = found[1] - self._clock()
        return left if left > timedelta(0) else None

    def seen(self, client: str, misses: int, until: datetime) -> None:
        """What the database said of `client`: `misses` wrong tokens in a row, waiting until `until`."""
        self._misses.pop(client, None)
        self._misses[client] = (misses, until)
        if len(self._misses) > TRACKED:
            self._misses.popitem(last=False)

    def missed(self, client: str) -> None:
        """A wrong token from `client`: past the free tries, the next try waits (twice as long each time)."""
        misses = self._misses.get(client, (0, self._clock()))[0] + 1
        self.seen(client, misses, self._clock() + _wait_after(misses))

    def passed(self, client: str) -> None:
        """A right token: the client starts afresh."""
        self._misses.pop(client, None)


# The row's wait is still running at this try (`excluded` is the row the try would insert).
_WAITING = "sign_in_tries.until_ms > excluded.tried_ms"
# The wait a counted miss starts: none within the free tries, then FIRST_WAIT, doubling up to MAX_WAIT.
_NEXT_WAIT = (
    f"CASE WHEN sign_in_tries.misses < {FREE_TRIES} THEN 0"
    f" WHEN sign_in_tries.wait_ms = 0 THEN {FIRST_WAIT // MS}"
    f" WHEN sign_in_tries.wait_ms * 2 > {MAX_WAIT // MS} THEN {MAX_WAIT // MS}"
    " ELSE sign_in_tries.wait_ms * 2 END"
)


def _try_sql(first_misses: int, misses: str, wait_ms: str, until_ms: str) -> str:
    """The one statement of a try: a new client's row (`first_misses`, no wait), or the client's row
    changed to `misses`, `wait_ms` and `until_ms` when its wait is over and left as it is (`refused`)
    during it. SET reads the row as it was, on SQLite and PostgreSQL alike."""

    def unless_waiting(column: str, fresh: str) -> str:
        return f"{column} = CASE WHEN {_WAITING} THEN sign_in_tries.{column} ELSE {fresh} END"

    return (
        "INSERT INTO sign_in_tries (client, misses, wait_ms, until_ms, refused, tried_ms)"
        f" VALUES (?, {first_misses}, 0, 0, 0, ?) ON CONFLICT (client) DO UPDATE SET"
        f" refused = CASE WHEN {_WAITING} THEN 1 ELSE 0 END, "
        + ", ".join(
            (
                unless_waiting("misses", misses),
                unless_waiting("wait_ms", wait_ms),
                unless_waiting("until_ms", until_ms),
            )
        )
        + ", tried_ms = excluded.tried_ms RETURNING misses, until_ms, refused"
    )


MISSED = _try_sql(1, "sign_in_tries.misses + 1", _NEXT_WAIT, f"excluded.tried_ms + {_NEXT_WAIT}")
PASSED = _try_sql(0, "0", "0", "0")
PRUNE = (
    "DELETE FROM sign_in_tries WHERE tried_ms < ? OR tried_ms <"
    " (SELECT tried_ms FROM sign_in_tries ORDER BY tried_ms DESC LIMIT 1 OFFSET ?)"
)


class Backoff:
    """The back-off every process on one database shares, with this process's memory in front of it."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self.local = LocalBackoff(clock)
        self._pruned_at: datetime | None = None

    def known_wait(self, client: str) -> timedelta | None:
        """The wait this process already knows `client` must sit out (no database: a try it refuses is
        not even read); None does not mean the client may try, only that `tried` must decide."""
        return self.local.wait(client)

    async def tried(self, client: str, right: bool) -> timedelta | None:
        """Record a try from `client` with a right or wrong token: the wait it met (refuse it, whatever
        its token), or None when it counts (a wrong token is counted, a right one starts afresh)."""
        now = self._clock()
        now_ms = (now - EPOCH) // MS
        prune = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY

        async def record(tx: Tx) -> Row | None:
            row = await tx.fetchone(PASSED if right else MISSED, client, now_ms)
            if prune:
                await tx.execute(PRUNE, now_ms - KEEP // MS, KEPT_ROWS - 1)  # OFFSET: the oldest kept
            return row

        try:
            row = await self._db.transaction(record)
            assert row is not None, "an upsert with RETURNING returns its row"
        except Exception as exc:
            held = UNRECORDED.allow("unrecorded")
            if held is not None:
                log.warning(
                    "dashboard: could not record a sign-in try (this process's memory decides it): %s%s",
                    exc,
                    UNRECORDED.note(held),
                )
            return self._by_memory(client, right)
        if prune:
            self._pruned_at = now
        until = EPOCH + int(row["until_ms"]) * MS
        if int(row["refused"]):
            self.local.seen(client, int(row["misses"]), until)
            return until - now
        if right:
            self.local.passed(client)
        else:
            self.local.seen(client, int(row["misses"]), until)
        return None

    def _by_memory(self, client: str, right: bool) -> timedelta | None:
        wait = self.local.wait(client)
        if wait is not None:
            return wait
        if right:
            self.local.passed(client)
        else:
            self.local.missed(client)
        return None
