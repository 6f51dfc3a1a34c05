"""Settles the database could not take when they were due, kept and retried until they land.

An answer that was delivered has a known cost (its usage, or the bound of what it streamed). If the
database is busy or briefly unreachable at that moment, forgetting the settle would leave the hold for the
next start to charge in full, and telling the person "nothing was charged" would be untrue. So the cost is
kept here and written in the background with backoff; the heartbeat sweep retries too, and a clean stop
flushes what is left within a bounded wait. Retrying is safe because a hold settles once: a settle that
did land after all (a commit whose answer was lost) makes every later one charge nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from bot.ledger.records import ChargeDetail, Hold

log = logging.getLogger(__name__)

FIRST_RETRY = 0.1  # seconds before the first background retry; doubled after each failed round
LAST_RETRY = 30.0  # the longest pause between rounds (the heartbeat sweep also retries)


@dataclass(frozen=True)
class Closing:
    """What closing one hold writes: a charge (`cost`, `detail`) or, with `cost` None, a release."""

    hold: Hold
    cost: int | None
    detail: ChargeDetail | None


class Closes(Protocol):
    """The ledger's two ways of closing a hold, each one transaction."""

    async def settle(self, hold: Hold, cost_nanos: int, detail: ChargeDetail) -> int: ...

    async def release(self, hold: Hold) -> None: ...


class Unsettled:
    """The ledger's closes that failed, by hold id, and the background task that retries them."""

    def __init__(self, ledger: Closes) -> None:
        self._ledger = ledger
        self._waiting: dict[int, Closing] = {}
        self._attempts: set[asyncio.Task[int | None]] = set()  # first attempts in flight
        self._retrier: asyncio.Task[None] | None = None
        self._round = asyncio.Lock()  # the retrier and the heartbeat sweep never retry side by side
        self._stopped = False

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, hold_id: object) -> bool:
        """Whether the hold's close is waiting here for the database to take it."""
        return hold_id in self._waiting

    async def close(self, closing: Closing) -> int | None:
        """Close a hold now, or keep it for the retrier when the database can't take it: returns what was
        charged, or None when it was kept. Runs shielded in a task of its own, so a cancellation (an
        answer stopped mid-settle) cannot lose it, and `flush` waits for it."""
        attempt = asyncio.ensure_future(self._first(closing))
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)
        return await asyncio.shield(attempt)

    async def _first(self, closing: Closing) -> int | None:
        try:
            return await self._write(closing)
        except Exception as exc:  # busy, a lost connection: the cost is known, so keep it and retry
            log.warning(
                "hold %d of %s: the database could not take its settle (%s); retrying in the background",
                closing.hold.id,
                closing.hold.user,
                exc or type(exc).__name__,
            )
            self.keep(closing)
            return None

    async def _write(self, closing: Closing) -> int:
        if closing.cost is None or closing.detail is None:
            await self._ledger.release(closing.hold)
            return 0
        return await self._ledger.settle(closing.hold, closing.cost, closing.detail)

    def keep(self, closing: Closing) -> None:
        """Keep a close to retry in the background until it lands."""
        self._waiting[closing.hold.id] = closing
        if self._stopped:  # after the final flush: the next start's reconcile charges the hold
            log.error("hold %d of %s left for the next start's reconcile", closing.hold.id, closing.hold.user)
            return
        if self._retrier is None or self._retrier.done():
            self._retrier = asyncio.create_task(self._keep_retrying())

    async def _keep_retrying(self) -> None:
        pause = FIRST_RETRY
        while self._waiting:
            await asyncio.sleep(pause)
            await self.retry()
            pause = min(pause * 2, LAST_RETRY)

    async def retry(self) -> int:
        """Try every kept close once (the heartbeat sweep calls this too); returns how many still wait."""
        async with self._round:
            for hold_id, closing in list(self._waiting.items()):
                try:
                    charged = await self._write(closing)
                except Exception as exc:
                    log.info("hold %d: settle still not written (%s)", hold_id, exc or type(exc).__name__)
                    continue  # the next round tries it again
                del self._waiting[hold_id]
                log.info(
                    "hold %d of %s settled after a retry: %d nano-dollars",
                    hold_id,
                    closing.hold.user,
                    charged,
                )
            return len(self._waiting)

    async def flush(self, seconds: float) -> int:
        """At a clean stop: let the first attempts in flight finish and retry what waits, for at most
        `seconds`; then stop retrying. Returns how many closes are left; their holds stay in the database
        (logged), for the next start to reconcile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                if self._attempts:
                    await asyncio.wait(set(self._attempts))
                pause = FIRST_RETRY
                while await self.retry():
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, LAST_RETRY)
        self._stopped = True
        if self._retrier is not None:
            self._retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retrier
        for closing in self._waiting.values():
            log.error(
                "hold %d of %s: its settle could not be written before the stop; the next start's reconcile"
                " charges the hold in full",
                closing.hold.id,
                closing.hold.user,
            )
        return len(self._waiting)
