"""Owner-side reads of the ledger: who spent what this period, usage per model, finding a person by name.

Read-only. Amounts come from the same running totals the caps are checked against, so a report and a
refusal never disagree. People are reported per account: identities joined by /link share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.ledger.ledger import Ledger
from bot.ledger.periods import PERIODS, Period, period_key, period_start, reset_time


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
class ModelUsage:
    model: str
    requests: int
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost: int


async def find_identities(ledger: Ledger, name: str) -> list[str]:
    """Known identities for `platform:id` or `@username` (several platforms may share a handle)."""
    name = name.strip()
    if name.startswith("@"):
        rows = await ledger.db.fetchall(
            "SELECT user_id FROM users WHERE username = ? ORDER BY user_id", name[1:].lower()
        )
    elif ":" in name:
        rows = await ledger.db.fetchall("SELECT user_id FROM users WHERE user_id = ?", name)
    else:
        return []
    return [str(row["user_id"]) for row in rows]


async def accounts(ledger: Ledger, *, limit: int | None = None) -> list[AccountReport]:
    """Every account (linked identities folded in), biggest spender this period first.

    One query over the users and the current keys of the running totals: no scan of charges.
    """
    moment = ledger.now()
    keys = {p: period_key(p, moment) for p in PERIODS}
    rows = await ledger.db.fetchall(
        "SELECT u.user_id, u.cap_nanos, u.unlimited, u.period, u.blocked, u.held, u.username,"
        " t.period_key, t.spent FROM users u"
        " LEFT JOIN totals t ON t.scope = u.user_id AND t.period_key IN (?, ?, ?, ?)"
        " WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.identity = u.user_id)",
        *keys.values(),
    )
    spent: dict[str, dict[str, int]] = {}
    first: dict[str, dict[str, object]] = {}
    for row in rows:
        user = str(row["user_id"])
        first.setdefault(user, dict(row))
        if row["period_key"] is not None:
            spent.setdefault(user, {})[str(row["period_key"])] = int(row["spent"])
    members = await _members(ledger)
    reports = []
    for user, row in first.items():
        cap, period = ledger._limits(row)
        used = spent.get(user, {}).get(keys[period], 0)
        held = int(str(row["held"]))
        reports.append(
            AccountReport(
                user=user,
                identities=(user, *members.get(user, ())),
                username=str(row["username"]) if row["username"] else None,
                period=period,
                spent=used,
                cap=cap,
                held=held,
                remaining=None if cap is None else cap - used - held,
                resets_at=reset_time(period, moment),
                blocked=bool(row["blocked"]),
                custom=row["cap_nanos"] is not None or bool(row["unlimited"]) or row["period"] is not None,
            )
        )
    reports.sort(key=lambda r: (-r.spent, r.user))
    return reports[:limit] if limit is not None else reports


async def account(ledger: Ledger, user: str) -> AccountReport:
    """One person's standing, by any of their identities."""
    summary = await ledger.summary(user)
    profile = await ledger.profile(summary.user)
    members = await _members(ledger)
    row = await ledger.db.fetchone(
        "SELECT cap_nanos, unlimited, period FROM users WHERE user_id = ?", summary.user
    )
    custom = row is not None and (
        row["cap_nanos"] is not None or bool(row["unlimited"]) or row["period"] is not None
    )
    return AccountReport(
        user=summary.user,
        identities=(summary.user, *members.get(summary.user, ())),
        username=profile.username,
        period=summary.period,
        spent=summary.spent,
        cap=summary.cap,
        held=summary.held,
        remaining=summary.remaining,
        resets_at=summary.resets_at,
        blocked=profile.blocked,
        custom=custom,
    )


async def _members(ledger: Ledger) -> dict[str, tuple[str, ...]]:
    rows = await ledger.db.fetchall("SELECT identity, account FROM links ORDER BY identity")
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["account"]), []).append(str(row["identity"]))
    return {account: tuple(ids) for account, ids in found.items()}


def period_since(period: Period, moment: datetime) -> datetime | None:
    """The start of the period containing `moment` (None: all time), for usage reports."""
    return period_start(period, moment)


async def usage_by_model(ledger: Ledger, account: str | None, since: datetime | None) -> list[ModelUsage]:
    """Requests, tokens and cost per model since a moment, for one account or everyone; costliest first.

    Charges are recorded under the account (linking moves an absorbed account's charges along).
    """
    where: list[str] = []
    args: list[object] = []
    if account is not None:
        where.append("user_id = ?")
        args.append(account)
    if since is not None:
        where.append("created_at >= ?")
        args.append(int(since.timestamp()))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await ledger.db.fetchall(
        "SELECT model, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens,"
        " SUM(cache_read_tokens) AS cached_tokens, SUM(output_tokens) AS output_tokens,"
        " SUM(reasoning_tokens) AS reasoning_tokens, SUM(cost) AS cost"
        f" FROM charges{clause} GROUP BY model",
        *args,
    )
    usage = [
        ModelUsage(
            model=str(row["model"]),
            requests=int(row["requests"]),
            input_tokens=int(row["input_tokens"] or 0),
            cached_tokens=int(row["cached_tokens"] or 0),
            output_tokens=int(row["output_tokens"] or 0),
            reasoning_tokens=int(row["reasoning_tokens"] or 0),
            cost=int(row["cost"] or 0),
        )
        for row in rows
    ]
    usage.sort(key=lambda u: (-u.cost, u.model))
    return usage
