"""A Stop press reaches the answer whichever process it arrives at (several webhook workers, Discord
shards, on one PostgreSQL database).

The process streaming an answer keeps a row for it in `answers_in_flight` (its Stop id, its asker, the
process) while it runs, and listens on one channel. A process that receives a press for an id it does not
hold reads that row: no row of a live process means no process has the answer (it finished, or its process
died), so "already finished" is true; a row of someone else's answer is refused there, from the row's
asker, without bothering the owner; otherwise the press is published as `(answer id, by)` and the owning
process cuts the answer exactly as a local Stop does (and checks the permission again, with its own
settings). The presser reads "Stopping." as soon as it is published, as they would locally.

On SQLite (one host, typically one process) nothing is kept or published: a Stop is local, and a second
process sharing the file answers "already finished" for the first one's answers. Cross-process Stop needs
PostgreSQL, as scaling out does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from bot.commands.base import Stoppable
from bot.ledger import STALE_AFTER
from bot.storage import Database
from bot.wording import STOP_FINISHED, STOP_NOT_YOURS, STOPPING

log = logging.getLogger(__name__)
CHANNEL = "stop"  # one channel for every press relayed between the processes on one database


class Stops:
    """The database's part of Stop: answers in flight, and presses relayed to the process that has them.

    `stop_here(answer, by)` is the core's local Stop, run for every relayed press (only the process that
    holds the answer finds it; the others find nothing and do nothing)."""

    def __init__(
        self,
        db: Database,
        instance: str,
        clock: Callable[[], datetime],
        stop_here: Callable[[str, str], str],
    ) -> None:
        self._db = db
        self._instance = instance  # this process, as its heartbeat in `instances` names it
        self._clock = clock
        self._stop_here = stop_here

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Hear presses relayed from other processes while the block runs; first forget the answers of
        processes that died without clearing theirs (a crash; a clean stop clears each answer's row)."""
        if not self._db.shared:
            yield
            return
        await self._db.execute(
            "DELETE FROM answers_in_flight WHERE NOT EXISTS"
            " (SELECT 1 FROM instances i WHERE i.id = answers_in_flight.instance AND i.seen_at >= ?)",
            self._alive_since(),
        )
        async with self._db.listen(CHANNEL, self._heard):
            yield

    @asynccontextmanager
    async def in_flight(self, stoppable: Stoppable) -> AsyncIterator[None]:
        """Keep `stoppable`'s row while the block (the answer) runs, so a press anywhere can find it.

        Failing to write or clear the row never fails the answer: a press elsewhere then reads "already
        finished" (no row), or "Stopping." for an answer that is gone (a row left until this process
        stops; its next start clears it should it crash).
        """
        if not self._db.shared:
            yield
            return
        try:
            await self._db.execute(
                "INSERT INTO answers_in_flight (id, user_id, instance, started_at) VALUES (?, ?, ?, ?)",
                stoppable.id,
                stoppable.user,
                self._instance,
                int(self._clock().timestamp()),
            )
        except Exception as exc:
            log.warning("could not record answer %s as in flight: %s", stoppable.id, type(exc).__name__)
        try:
            yield
        finally:
            try:
                await self._db.execute("DELETE FROM answers_in_flight WHERE id = ?", stoppable.id)
            except Exception as exc:
                log.warning("could not clear answer %s from in flight: %s", stoppable.id, type(exc).__name__)

    async def elsewhere(self, answer: str, by: str, is_owner: Callable[[str], bool]) -> str:
        """The line for `by`'s press on `answer`, which this process does not hold: relayed to the process
        that does, refused when it is not theirs, "already finished" when no live process has it."""
        if not self._db.shared:
            return STOP_FINISHED
        row = await self._db.fetchone(
            "SELECT a.user_id, a.instance FROM answers_in_flight a WHERE a.id = ? AND EXISTS"
            " (SELECT 1 FROM instances i WHERE i.id = a.instance AND i.seen_at >= ?)",
            answer,
            self._alive_since(),
        )
        if row is None or row["instance"] == self._instance:  # ours, and gone from here: it just ended
            return STOP_FINISHED
        if by != row["user_id"] and not is_owner(by):
            return STOP_NOT_YOURS
        await self._db.publish(CHANNEL, json.dumps({"answer": answer, "by": by}))
        return STOPPING

    def _heard(self, payload: str) -> None:
        try:
            press = json.loads(payload)
            answer, by = str(press["answer"]), str(press["by"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable Stop notice: %.100r", payload)
            return
        self._stop_here(answer, by)

    def _alive_since(self) -> int:
        """Heartbeats older than this are of processes that are gone (as the ledger's reconcile reads)."""
        return int((self._clock() - STALE_AFTER).timestamp())
