"""Reserve the worst case before a call, settle the exact cost after: caps that hold under concurrency.

Every amount is an integer of nano-dollars. A reservation checks what is left (cap − spent this period −
open holds, for the person and for everyone) and inserts its hold in the same write transaction, so
parallel requests cannot all pass the same check. Charges are added to running totals for every period
at once, which keeps `/spend` O(1) and lets an owner change a period without a scan.

`Ledger` is the one front door: money moves only through `reserve` → `settle` / `release` here, and the
same object carries its accounts (`accounts.py`), links (`links.py`), reads (`reports.py`) and the
gateway's keys (`keys.py`).

Which period pays: a charge belongs to the moment its hold was reserved, not the moment it settles. The
hold was checked against that period's allowance, so that period pays for it; a question asked at
23:59:59 and answered after midnight is yesterday's spend, and a hold a crash left behind is reconciled
into the period it was taken in, not into the day the bot restarts. The charge row carries the same
moment (`created_at`), so per scope and period key the running total is always the sum of the charges
whose `created_at` falls in that period, for the old period and the new one alike. While such a hold is
open it still counts against the new period (what is left = cap − spent − every open hold), so no
period's spend can pass its cap: the new period only sees the hold shrink to nothing when it settles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from bot.ledger.accounts import GLOBAL, utc_now
from bot.ledger.keys import Keys
from bot.ledger.links import Links
from bot.ledger.periods import all_keys, period_key, reset_time
from bot.ledger.records import Blocked, CapReached, ChargeDetail, Hold, Quote
from bot.ledger.reports import Reports
from bot.ledger.rollups import roll_up
from bot.ledger.unsettled import Closing, Unsettled
from bot.money import floor_div, usd_to_nanos
from bot.storage import Database, Row, Tx

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)
HEARTBEAT = timedelta(seconds=30)  # how often a running process says it is alive (see `reconcile`)
STALE_AFTER = 3 * HEARTBEAT  # a process silent this long is gone: its holds are reconciled
# A hold of this process that nobody holds (its reserve committed but the answer to it was lost with the
# connection) is released by the heartbeat sweep once it is this old: reserves return in milliseconds.
ORPHAN_AFTER = timedelta(minutes=2)
FLUSH_LIMIT = timedelta(seconds=5)  # at a clean stop, how long settles the database refused may still try


class Ledger(Links, Reports, Keys):
    """Per-person dollar caps that hold under concurrency: reserve the worst case, settle the exact cost."""

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, *, clock: Callable[[], datetime] = utc_now
    ) -> Ledger:
        """The ledger the owner configured (default cap and period, global cap) on an open database."""
        return cls(
            db,
            default_cap_nanos=usd_to_nanos(settings.default_cap_usd),
            default_period=settings.cap_period,
            global_cap_nanos=None
            if settings.global_cap_usd is None
            else usd_to_nanos(settings.global_cap_usd),
            clock=clock,
        )

    async def reserve(self, user: str, quote: Quote) -> Hold:
        """Hold the worst case of one request, clamping its output tokens to what is left.

        Raises `CapReached` (with what is left and when it resets) when not even `min_output_tokens`
        fit, and `Blocked` for a blocked person. Check and hold are one transaction.
        """
        moment = self.now()
        now = int(moment.timestamp())

        async def hold(tx: Tx, account: str, row: Row) -> Hold:  # on the account `user` spends from now
            if row["blocked"]:
                raise Blocked(user)
            cap, period = self.limits(row)
            global_held = 0
            if self.global_cap is not None:  # reserves against the global cap queue on its row
                await tx.fetchone("SELECT id FROM global_state WHERE id = 1" + tx.lock)
                global_held = await self._held(tx)  # before the global total: a settle between the two
                # reads is then counted twice (never missed)
            candidates: list[tuple[int, Literal["user", "global"], datetime | None]] = []
            if cap is not None:
                left = cap - await self._spent(tx, account, period_key(period, moment)) - int(row["held"])
                candidates.append((left, "user", reset_time(period, moment)))
            if self.global_cap is not None:
                gkey = period_key(self.default_period, moment)
                left = self.global_cap - await self._spent(tx, GLOBAL, gkey) - global_held
                candidates.append((left, "global", reset_time(self.default_period, moment)))
            amount, tokens = self._fit(quote, candidates)
            hold_row = await tx.fetchone(
                "INSERT INTO holds (user_id, amount, max_output_tokens, created_at, instance)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                account,
                amount,
                tokens,
                now,
                self.instance,
            )
            assert hold_row is not None
            await tx.execute("UPDATE users SET held = held + ? WHERE user_id = ?", amount, account)
            return Hold(int(hold_row["id"]), account, amount, tokens)

        granted = await self._on_account(user, now, hold)
        self._handed.add(granted.id)
        return granted

    @cached_property
    def _handed(self) -> set[int]:
        """Ids of the holds this process gave to a caller and has not closed yet."""
        return set()

    async def release_orphans(self) -> int:
        """Release this process's holds that no caller has: a reserve whose commit landed while the
        connection carrying its answer was lost (the caller was told "try again", and nothing was shown).
        Only holds older than `ORPHAN_AFTER`, so a reserve that just committed is never taken for one."""
        before = int((self.now() - ORPHAN_AFTER).timestamp())
        rows = await self.db.fetchall(
            "SELECT id, user_id, amount, max_output_tokens FROM holds WHERE instance = ? AND created_at < ?",
            self.instance,
            before,
        )
        orphans = [row for row in rows if row["id"] not in self._handed and row["id"] not in self.unsettled]
        for row in orphans:
            hold = Hold(int(row["id"]), row["user_id"], int(row["amount"]), int(row["max_output_tokens"]))
            await self.release(hold)
            log.warning(
                "released hold %d of %s: its reserve's answer was lost, nothing was shown", hold.id, hold.user
            )
        return len(orphans)

    @staticmethod
    def _fit(
        quote: Quote, candidates: list[tuple[int, Literal["user", "global"], datetime | None]]
    ) -> tuple[int, int]:
        """(amount to hold, output tokens allowed) within the tightest of the limits."""
        per_token = quote.output_nanos_per_token
        full = quote.worst_case(quote.max_output_tokens)
        if not candidates:
            return full, quote.max_output_tokens
        available, scope, resets = min(candidates, key=lambda c: c[0])
        if available >= full:
            return full, quote.max_output_tokens
        room = available - quote.input_nanos
        tokens = floor_div(Decimal(room), per_token) if per_token > 0 and room >= 0 else -1
        if per_token == 0 and room >= 0:
            tokens = quote.max_output_tokens
        if tokens < quote.min_output_tokens:
            raise CapReached(max(available, 0), resets, scope)
        tokens = min(tokens, quote.max_output_tokens)
        return quote.worst_case(tokens), tokens

    async def settle(self, hold: Hold, cost_nanos: int, detail: ChargeDetail) -> int:
        """Replace the hold by the actual cost (never more than the hold); returns what was charged.

        A reported cost above the hold (a provider routed the request elsewhere, a price changed
        mid-flight) charges the hold: the person never pays past what was checked against their cap. The
        excess is recorded with the charge as absorbed by the owner, shown in usage reports and logged; it
        is in no running total, so no cap ever counts it.
        A hold settles once: a second settle (a retry, a reconcile racing a late finish) charges nothing.
        The charge goes to the period the hold was reserved in (see the module docstring), even when it
        settles after that period ended.
        """
        charged = await self._close(hold, cost_nanos, detail)
        self._handed.discard(hold.id)  # written: closed now, or before (then this charged nothing)
        return charged

    async def release(self, hold: Hold) -> None:
        """Drop a hold with no charge: the call failed before anything reached the person."""
        await self._close(hold, None, None)
        self._handed.discard(hold.id)

    @cached_property
    def unsettled(self) -> Unsettled:
        """Settles and releases the database could not take when due, retried until they land."""
        return Unsettled(self)

    async def settle_surely(self, hold: Hold, cost_nanos: int, detail: ChargeDetail) -> int | None:
        """`settle` for an answer already delivered: when the database can't take it now (busy, a lost
        connection), the cost is kept and written in the background until it lands, instead of the hold
        being left for the next start to charge in full. Returns what was charged, or None when the charge
        was left to the retrier. Never raises for the database; a cancellation does not lose it."""
        return await self.unsettled.close(Closing(hold, cost_nanos, detail))

    async def release_surely(self, hold: Hold) -> None:
        """`release`, kept and retried like `settle_surely` when the database can't take it now."""
        await self.unsettled.close(Closing(hold, None, None))

    async def _close(self, hold: Hold, cost_nanos: int | None, detail: ChargeDetail | None) -> int:
        now = int(self.now().timestamp())

        async def close(tx: Tx) -> int:
            await self.lock_user(tx, hold.user, now)
            row = await tx.fetchone("DELETE FROM holds WHERE id = ? RETURNING amount, created_at", hold.id)
            if row is None:  # settled or released before: nothing more to charge
                return 0
            amount = int(row["amount"])
            reserved_at = int(row["created_at"])  # the period the hold was checked against pays
            await tx.execute("UPDATE users SET held = held - ? WHERE user_id = ?", amount, hold.user)
            if cost_nanos is None or detail is None:
                return 0
            charged = max(0, min(cost_nanos, amount))
            absorbed = max(0, cost_nanos - amount)
            if absorbed:
                log.warning(
                    "%s: cost %d exceeded the hold %d for %s; charged the hold, the owner absorbs %d"
                    " nano-dollars",
                    detail.model,
                    cost_nanos,
                    amount,
                    hold.user,
                    absorbed,
                )
            await tx.execute(
                "INSERT INTO charges (user_id, hold_id, model, input_tokens, cache_read_tokens,"
                " cache_write_tokens, output_tokens, reasoning_tokens, cost, absorbed, estimated,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                hold.user,
                hold.id,
                detail.model,
                detail.tokens.input_tokens,
                detail.tokens.cache_read_tokens,
                detail.tokens.cache_write_tokens,
                detail.tokens.output_tokens,
                detail.tokens.reasoning_tokens,
                charged,
                absorbed,
                int(detail.estimated),
                reserved_at,
            )
            await roll_up(tx, (hold.user, GLOBAL), reserved_at, detail, charged, absorbed)
            # every period key of both scopes in one statement: one round trip, not eight
            keys = [
                (scope, key)
                for key in all_keys(datetime.fromtimestamp(reserved_at, UTC))
                for scope in (hold.user, GLOBAL)
            ]
            await tx.execute(
                "INSERT INTO totals (scope, period_key, spent) VALUES "
                + ", ".join("(?, ?, ?)" for _ in keys)
                + " ON CONFLICT (scope, period_key) DO UPDATE SET spent = totals.spent + excluded.spent",
                *(value for scope, key in keys for value in (scope, key, charged)),
            )
            return charged

        return await self.db.transaction(close)

    async def heartbeat(self) -> None:
        """Say this process is alive; its holds are its own until its heartbeat is `STALE_AFTER` old."""
        now = int(self.now().timestamp())
        await self.db.execute(
            "INSERT INTO instances (id, seen_at) VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            self.instance,
            now,
        )

    async def retire(self) -> None:
        """A clean stop: any hold this process still has is left to the next reconcile, straight away."""
        await self.db.execute("DELETE FROM instances WHERE id = ?", self.instance)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        """While a bot process runs: a heartbeat, and a sweep for holds of processes that died since.

        Yields how many holds it reconciled at start. On a clean exit the settles the database refused are
        flushed (within `FLUSH_LIMIT`), then the process retires its heartbeat.
        """
        await self.heartbeat()
        reconciled = await self.reconcile()

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT.total_seconds())
                try:
                    await self.unsettled.retry()  # this process's own finished answers first
                    await self.release_orphans()
                    await self.heartbeat()
                    await self.reconcile()
                except Exception:  # a busy or briefly unreachable database: try again next beat
                    log.warning("ledger heartbeat failed; retrying in %s", HEARTBEAT, exc_info=True)

        beating = asyncio.create_task(keep_alive())
        try:
            yield reconciled
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await self.unsettled.flush(FLUSH_LIMIT.total_seconds())
            with contextlib.suppress(Exception):  # the database may be gone (a crash test, a lost link)
                await self.retire()

    async def reconcile(self) -> int:
        """Settle holds a crash left behind at their full amount (we cannot know what was used).

        A hold is left behind when the process that took it is gone: it has no heartbeat newer than
        `STALE_AFTER` (or the hold predates heartbeats). Holds of live processes sharing the database
        (`python -m bot telegram` and `... discord` side by side, or a second machine) are theirs to
        settle, so this runs at start and then periodically in every process. Each hold is charged to the
        period it was reserved in, as any settle is; a settle racing this one charges nothing more.
        """
        alive_since = int(self.now().timestamp()) - int(STALE_AFTER.total_seconds())
        rows = await self.db.fetchall(
            "SELECT id, user_id, amount, max_output_tokens FROM holds h"
            " WHERE h.instance IS NULL OR (h.instance <> ? AND NOT EXISTS"
            " (SELECT 1 FROM instances i WHERE i.id = h.instance AND i.seen_at >= ?)) ORDER BY id",
            self.instance,
            alive_since,
        )
        for row in rows:
            hold = Hold(int(row["id"]), row["user_id"], int(row["amount"]), int(row["max_output_tokens"]))
            charged = await self.settle(
                hold, hold.amount, ChargeDetail(model="(interrupted)", estimated=True)
            )
            log.warning(
                "reconciled hold %d of %s at %d nano-dollars (estimated)", hold.id, hold.user, charged
            )
        await self.db.execute("DELETE FROM instances WHERE seen_at < ?", alive_since)
        return len(rows)
