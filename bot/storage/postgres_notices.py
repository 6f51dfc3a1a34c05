"""Notices between the processes on one PostgreSQL database: LISTEN on a connection of its own, NOTIFY
from the pool.

A listening connection is dedicated (like the turns' pool): asyncpg delivers notices only to the
connection that ran LISTEN, and a pooled one would be reset (UNLISTEN) or lent to a query. When the server
or the network drops it, it is opened again in the background; notices sent meanwhile are lost (NOTIFY
keeps nothing for a session that is not listening), which callers accept by treating a notice as a nudge,
never as the only record of anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
RECONNECT_DELAYS = (0.1, 0.5, 2.0, 5.0)  # seconds between attempts to listen again; the last repeats


def channel_name(name: str, namespace: str) -> str:
    """The server's channel for `name` in this bot's schema: NOTIFY reaches every schema of a database,
    so bots (or tests) sharing one database in separate schemas must not hear each other. Well under
    PostgreSQL's 63-byte identifier limit."""
    digest = hashlib.sha256(f"capbot notice\0{namespace}".encode()).hexdigest()[:16]
    return f"capbot_{name}_{digest}"


class Listener:
    """One channel heard on one dedicated connection, for as long as it is open; `receive` is called with
    each notice's payload, in the event loop, and must not block (schedule work instead)."""

    def __init__(
        self, connect: Callable[[], Awaitable[Any]], channel: str, receive: Callable[[str], None]
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._receive = receive
        self._conn: Any | None = None
        self._again: asyncio.Task[None] | None = None
        self._closed = False

    async def open(self) -> None:
        """Listen now: the first connection's failure is the caller's (start-up reports it)."""
        await self._listen()

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.add_listener(self._channel, self._heard)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._receive(payload)
        except Exception:  # one bad notice must not stop the others
            log.exception("notice on %s could not be handled", self._channel)

    def _lost(self, _conn: Any) -> None:
        self._conn = None
        if not self._closed and self._again is None:
            log.warning("lost the connection listening on %s; listening again", self._channel)
            self._again = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._closed:
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            try:
                await self._listen()
            except Exception as exc:
                attempt += 1
                if attempt == len(RECONNECT_DELAYS):  # once, not every few seconds for as long as it lasts
                    log.warning("still cannot listen on %s: %s", self._channel, type(exc).__name__)
                continue
            log.info("listening on %s again", self._channel)
            break
        self._again = None

    async def close(self) -> None:
        """Stop listening and close the connection (a clean disconnect for the server)."""
        self._closed = True
        if self._again is not None:
            self._again.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._again
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5.0)
