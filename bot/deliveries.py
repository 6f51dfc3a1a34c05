"""Deliveries already claimed, so that an event a platform sends again is answered once.

After a crash, Telegram re-sends every update the process had not yet confirmed (with the same update
id), and Discord may replay events on a reconnect. An adapter names each delivery by a key that stays the
same across such redeliveries and claims it before handling it: only the first claim wins, whether the
earlier one happened in this process (remembered in memory) or before a restart (a row of `deliveries`,
inserted atomically). The key is opaque here; the core knows no platform.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.storage import Database, Row, Tx

log = logging.getLogger(__name__)

KEEP = timedelta(days=1)  # no platform redelivers later than this; older claims are deleted
PRUNE_EVERY = timedelta(hours=1)
REMEMBERED = 4096  # keys also kept in memory, the oldest forgotten first (the table still has them)


class Deliveries:
    """Claims of deliveries: in memory for this process, and in the database across restarts."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._pruned_at: datetime | None = None

    async def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (handle it); False when it was claimed before (the
        delivery was answered already, or is being answered), in this process or before a restart.

        A claim the database can't record is let through, with a warning: answering a redelivery twice
        (which the ledger still caps) is better than leaving every message unanswered.
        """
        if key in self._recent:
            return False
        self._recent[key] = None  # before the first suspension: a duplicate arriving meanwhile loses
        if len(self._recent) > REMEMBERED:
            self._recent.popitem(last=False)
        now = self._clock()
        prune = self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY

        async def record(tx: Tx) -> Row | None:
            claimed = await tx.fetchone(
                "INSERT INTO deliveries (delivery, claimed_at) VALUES (?, ?)"
                " ON CONFLICT (delivery) DO NOTHING RETURNING delivery",
                key,
                int(now.timestamp()),
            )
            if prune:
                await tx.execute("DELETE FROM deliveries WHERE claimed_at < ?", int((now - KEEP).timestamp()))
            return claimed

        try:
            claimed = await self._db.transaction(record)  # one trip with the other writes waiting
        except Exception as exc:
            log.warning("could not record delivery %s (answering it anyway): %s", key, exc)
            return True
        if prune:
            self._pruned_at = now
        return claimed is not None

    async def claimed(self, key: str) -> bool:
        """Whether `key` was claimed, here or by any process on this database in the last `KEEP` (the
        dashboard keeps its sign-outs here, so every process behind one port honours them)."""
        if key in self._recent:
            return True
        row = await self._db.fetchone("SELECT 1 AS found FROM deliveries WHERE delivery = ?", key)
        return row is not None
