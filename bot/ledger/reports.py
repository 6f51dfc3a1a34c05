"""Reads of the ledger: a person's standing this period, every account's, usage per model, finding a person.

Read-only. Amounts come from the same running totals the caps are checked against, and caps from the
same `limits` rule, so a report and a refusal never disagree. People are reported per account:
identities joined by /link share one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.ledger.accounts import GLOBAL, Accounts
from bot.ledger.periods import PERIODS, Period, day_key, period_key, reset_time
from bot.ledger.records import SpendSummary
from bot.ledger.rollups import COLUMNS, charges_between, day_of
from bot.storage import DAY_SECONDS, Row

# What an account that never wrote reads as: the defaults, nothing spent or held.
_NO_ROW: Row = {"cap_nanos": None, "unlimited": 0, "period": None, "blocked": 0, "held": 0, "username": None}
# The account an identity spends from (`Accounts.account_of`) inside a read, for the identity given twice.
_ACCOUNT_OF = "COALESCE((SELECT account FROM links WHERE identity = ?), ?)"


def _last_days(moment: datetime, days: int) -> list[date]:
    """The UTC calendar days of the last `days` days up to `moment`'s, oldest first."""
    today = moment.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


@dataclass(frozen=True)
class _Standing:
    """What one read of an account's standing found (`Reports._standing`)."""

    account: str
    row: Row  # its users row, or `_NO_ROW`
    spent: int  # in its own period
    totals: dict[str, int]  # running totals by the period keys read
    global_spent: int  # everyone's this default period (read under a global cap only)
    global_held: int  # every open hold (read under a global cap only)


@dataclass(frozen=True)
class AccountReport:
    """One account's standing this period (its own period, which may differ from the default)."""

    user: str  # the account: the identity that others were linked into
    identities: tuple[str, ...]  # every identity spending from it, the account first
    username: str | None
    period: Period
    spent: int
    cap: int | None  # None: unlimited
    held: int
    remaining: int | None  # None: unlimited; may be negative after an owner lowered the cap
    resets_at: datetime | None
    blocked: bool
    custom: bool  # the owner set this account's cap or period (otherwise the defaults apply)


@dataclass(frozen=True)
class ModelTokens:
    """One model's requests and tokens in a period: what every usage report shows besides the money."""

    model: str
    requests: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True)
class ModelUsage(ModelTokens):
    """One model's share of the spend, for the owner's `/usage`, `/spend`'s top models and the API."""

    cost: int  # nano-dollars charged
    absorbed: int  # nano-dollars reported beyond the holds, paid by the owner and charged to nobody


class Reports(Accounts):
    """The read side of the ledger, for `/spend`, the owner's commands, the CLI and the API."""

    async def summary(self, user: str, *, days: int = 0) -> SpendSummary:
        """This period's spend, cap, open holds and reset time, and with `days` the spend of each of the
        last `days` UTC days (oldest first): one read of a handful of keys, no scan."""
        moment = self.now()
        wanted = _last_days(moment, days)
        standing = await self._standing(user, moment, [day_key(day) for day in wanted])
        account, row = standing.account, standing.row
        own = self._report(account, (account,), row, standing.spent, moment)  # the owner's arithmetic
        global_remaining = None
        if self.global_cap is not None:
            global_remaining = self.global_cap - standing.global_spent - standing.global_held
        return SpendSummary(
            user=account,
            period=own.period,
            spent=own.spent,
            cap=own.cap,
            held=own.held,
            remaining=own.remaining,
            resets_at=own.resets_at,
            global_remaining=global_remaining,
            daily=tuple((day, standing.totals.get(day_key(day), 0)) for day in wanted),
        )

    async def daily_spend(self, user: str, days: int) -> list[tuple[date, int]]:
        """Spend per UTC day for the last `days` days, oldest first (from the daily running totals, in one
        lookup of their keys, the account resolved in the same statement)."""
        wanted = _last_days(self.now(), days)
        keys = [day_key(day) for day in wanted]
        marks = ", ".join("?" for _ in keys)
        rows = await self.db.fetchall(
            f"SELECT period_key, spent FROM totals WHERE scope = {_ACCOUNT_OF} AND period_key IN ({marks})",
            user,
            user,
            *keys,
        )
        spent = {str(row["period_key"]): int(row["spent"]) for row in rows}
        return [(day, spent.get(key, 0)) for day, key in zip(wanted, keys, strict=True)]

    async def find_identities(self, name: str) -> list[str]:
        """Known identities for `platform:id` or `@username` (several platforms may share a handle)."""
        name = name.strip()
        if name.startswith("@"):
            rows = await self.db.fetchall(
                "SELECT user_id FROM users WHERE username = ? ORDER BY user_id", name[1:].lower()
            )
        elif ":" in name:
            rows = await self.db.fetchall("SELECT user_id FROM users WHERE user_id = ?", name)
        else:
            return []
        return [str(row["user_id"]) for row in rows]

    async def accounts(self, *, limit: int | None = None) -> list[AccountReport]:
        """Every account (linked identities folded in), biggest spender this period first.

        One query over the users and the current keys of the running totals: no scan of charges.
        """
        moment = self.now()
        keys = {p: period_key(p, moment) for p in PERIODS}
        rows = await self.db.fetchall(
            "SELECT u.user_id, u.cap_nanos, u.unlimited, u.period, u.blocked, u.held, u.username,"
            " t.period_key, t.spent FROM users u"
            " LEFT JOIN totals t ON t.scope = u.user_id AND t.period_key IN (?, ?, ?, ?)"
            " WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.identity = u.user_id)",
            *keys.values(),
        )
        spent: dict[str, dict[str, int]] = {}
        first: dict[str, Row] = {}
        for row in rows:
            user = str(row["user_id"])
            first.setdefault(user, row)
            if row["period_key"] is not None:
                spent.setdefault(user, {})[str(row["period_key"])] = int(row["spent"])
        linked = await self._linked(self.db)
        reports = []
        for user, row in first.items():
            _, period = self.limits(row)
            used = spent.get(user, {}).get(keys[period], 0)
            reports.append(self._report(user, (user, *linked.get(user, ())), row, used, moment))
        reports.sort(key=lambda r: (-r.spent, r.user))
        return reports[:limit] if limit is not None else reports

    async def account(self, user: str) -> AccountReport:
        """One person's standing, by any of their identities (an owner names whichever they know)."""
        moment = self.now()
        standing = await self._standing(user, moment)
        account = standing.account
        members = tuple(await self.members(self.db, account))
        return self._report(account, members, standing.row, standing.spent, moment)

    async def _standing(self, user: str, moment: datetime, more_keys: Sequence[str] = ()) -> _Standing:
        """The account `user` spends from, its users row (or the defaults), its running totals for every
        period's current key and `more_keys` (past days), and, under a global cap, everyone's spend and
        holds: one statement, so a report is one round trip to the database and one consistent snapshot.

        Every period's key is read because the account's period is in the row being read."""
        keys = list(dict.fromkeys([*(period_key(p, moment) for p in PERIODS), *more_keys]))
        everyone, args = "", []
        if self.global_cap is not None:
            everyone = (
                ", (SELECT spent FROM totals WHERE scope = ? AND period_key = ?) AS global_spent,"
                " (SELECT COALESCE(SUM(amount), 0) FROM holds) AS global_held"
            )
            args = [GLOBAL, period_key(self.default_period, moment)]
        marks = ", ".join("?" for _ in keys)
        rows = await self.db.fetchall(
            "SELECT a.account, u.user_id, u.cap_nanos, u.unlimited, u.period, u.blocked, u.held, u.username,"
            f" t.period_key, t.spent{everyone} FROM (SELECT {_ACCOUNT_OF} AS account) AS a"
            " LEFT JOIN users u ON u.user_id = a.account"
            f" LEFT JOIN totals t ON t.scope = a.account AND t.period_key IN ({marks})",
            *args,
            user,
            user,
            *keys,
        )
        first = rows[0]  # the FROM is one row, the joins keep it
        row: Row = _NO_ROW if first["user_id"] is None else first
        _, period = self.limits(row)
        totals = {str(r["period_key"]): int(r["spent"]) for r in rows if r["period_key"] is not None}
        return _Standing(
            account=str(first["account"]),
            row=row,
            spent=totals.get(period_key(period, moment), 0),
            totals=totals,
            global_spent=int(first.get("global_spent") or 0),
            global_held=int(first.get("global_held") or 0),
        )

    def _report(
        self, account: str, identities: tuple[str, ...], row: Row, spent: int, moment: datetime
    ) -> AccountReport:
        """What is left and when it resets, from an account's row and spend: one rule for every reader."""
        cap, period = self.limits(row)
        held = int(row["held"])
        return AccountReport(
            user=account,
            identities=identities,
            username=str(row["username"]) if row["username"] else None,
            period=period,
            spent=spent,
            cap=cap,
            held=held,
            remaining=None if cap is None else cap - spent - held,
            resets_at=reset_time(period, moment),
            blocked=bool(row["blocked"]),
            custom=row["cap_nanos"] is not None or bool(row["unlimited"]) or row["period"] is not None,
        )

    async def usage_by_model(self, account: str | None, since: datetime | None) -> list[ModelUsage]:
        """Requests, tokens, cost and what the owner absorbed per model since a moment, for one account or
        everyone; costliest first.

        Read from the daily rollups (a row per day and model, never a scan of charges). Charges, and their
        rollups, are recorded under the account (linking moves an absorbed account's along). A `since`
        that is not a UTC midnight (every period start is one) is answered honestly rather than rounded:
        whole days from the rollups, and the part of its first day from that day's charges alone.
        """
        scope = GLOBAL if account is None else account
        sums = ", ".join(f"SUM({c}) AS {c}" for c in COLUMNS)
        where = "scope = ?"
        args: list[object] = [scope]
        partial: list[Row] = []
        if since is not None:
            start = math.ceil(since.timestamp())  # charges are timed in whole seconds
            whole = start if start % DAY_SECONDS == 0 else day_of(start) + DAY_SECONDS
            where += " AND day >= ?"
            args.append(whole)
            if whole != start:
                partial = await charges_between(self.db, account, start, whole)
        rows = await self.db.fetchall(
            f"SELECT model, {sums} FROM rollups WHERE {where} GROUP BY model", *args
        )
        totals: dict[str, list[int]] = {}
        for row in [*rows, *partial]:
            into = totals.setdefault(str(row["model"]), [0] * len(COLUMNS))
            for n, column in enumerate(COLUMNS):
                into[n] += int(row[column] or 0)
        usage = []
        for model, values in totals.items():
            sums_of = dict(zip(COLUMNS, values, strict=True))
            del sums_of["cache_write_tokens"]  # kept in the rollups, not shown in the reports
            usage.append(ModelUsage(model=model, **sums_of))
        usage.sort(key=lambda u: (-u.cost, u.model))
        return usage

    async def global_standing(self) -> GlobalStanding:
        """Everyone's spend this (default) period against `GLOBAL_CAP_USD`, and what open holds keep back:
        the same running total and held amount `reserve` checks the global cap against."""
        moment = self.now()
        held = await self._held(self.db)
        spent = await self._spent(self.db, GLOBAL, period_key(self.default_period, moment))
        cap = self.global_cap
        return GlobalStanding(
            period=self.default_period,
            spent=spent,
            held=held,
            cap=cap,
            remaining=None if cap is None else cap - spent - held,
            resets_at=reset_time(self.default_period, moment),
        )

    async def open_holds(self) -> list[OpenHold]:
        """The holds of answers in progress (or left by a crash, until reconciled), oldest first."""
        rows = await self.db.fetchall(
            "SELECT id, user_id, amount, created_at FROM holds ORDER BY created_at, id"
        )
        return [
            OpenHold(
                id=int(row["id"]),
                user=str(row["user_id"]),
                amount=int(row["amount"]),
                created_at=datetime.fromtimestamp(int(row["created_at"]), UTC),
            )
            for row in rows
        ]

    async def recent_charges(self, user: str, limit: int) -> list[ChargeRecord]:
        """The account's latest charges (any identity of it names it), newest first, estimated ones marked."""
        account = await self.account_of(self.db, user)
        rows = await self.db.fetchall(
            "SELECT id, model, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens, cost,"
            " absorbed, estimated, created_at FROM charges WHERE user_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            account,
            limit,
        )
        return [
            ChargeRecord(
                id=int(row["id"]),
                model=str(row["model"]),
                input_tokens=int(row["input_tokens"]),
                cached_tokens=int(row["cache_read_tokens"]),
                output_tokens=int(row["output_tokens"]),
                reasoning_tokens=int(row["reasoning_tokens"]),
                cost=int(row["cost"]),
                absorbed=int(row["absorbed"]),
                estimated=bool(row["estimated"]),
                created_at=datetime.fromtimestamp(int(row["created_at"]), UTC),
            )
            for row in rows
        ]

    async def last_seen(self) -> dict[str, datetime]:
        """When each account was last charged (its latest answer), for the accounts that ever were."""
        rows = await self.db.fetchall("SELECT user_id, MAX(created_at) AS seen FROM charges GROUP BY user_id")
        return {str(row["user_id"]): datetime.fromtimestamp(int(row["seen"]), UTC) for row in rows}


@dataclass(frozen=True)
class GlobalStanding:
    """Everyone's spend this default period: what the global cap is checked against."""

    period: Period
    spent: int
    held: int
    cap: int | None  # None: no GLOBAL_CAP_USD
    remaining: int | None
    resets_at: datetime | None


@dataclass(frozen=True)
class OpenHold:
    """A reservation not yet settled or released: an answer in progress."""

    id: int
    user: str  # the account it was taken on
    amount: int
    created_at: datetime


@dataclass(frozen=True)
class ChargeRecord:
    """One settled charge as the owner's dashboard lists it."""

    id: int
    model: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost: int
    absorbed: int
    estimated: bool  # no usage was reported: charged the bound of what was received
    created_at: datetime
