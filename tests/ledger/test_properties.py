"""Random interleavings of everything that moves money, on SQLite and PostgreSQL, checked after every step.

Hypothesis draws a sequence of steps for three people under a global cap: reserves (with random quotes),
settles at a random actual usage within what was reserved (or, as when a provider reports more than the
worst case, beyond it), releases, links folding one person's account into another's, concurrent bursts
mixing all of these (on PostgreSQL a merge then really races the reserves and settles), cap and period
changes, clock jumps across days, Monday weeks and the December→January month and
year boundaries, and crashes (holds reconciled by a restarted ledger). After every step:

- per scope (each account and everyone) and period key, the running total == the sum of the charges
  whose time falls in that period, and == what the model of the test expects, charging each hold to the
  period it was reserved in and following the account's merges;
- no hold, total or charge is left on an account folded into another, and every identity spends from the
  account the merges that happened say;
- per account, spent this period + open holds ≤ cap, unless the owner lowered the cap or changed the
  period during this period, or a merge brought in more than the cap (or holds taken before such a change
  are still open);
- everyone's spend + open holds ≤ the global cap, in this period and every past one;
- held == the sum of open holds, per person and overall; nothing is negative;
- a charge is never more than its hold; what a reported cost exceeded it by is recorded as absorbed by the
  owner (never negative, in no running total);
- per scope (each account and everyone), UTC day and model, the usage rollups are exactly the charges
  (requests, every token count, cost, absorbed), merges racing settles included;
- `/spend` (summary) agrees with all of the above.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ledger import (
    GLOBAL,
    CapReached,
    ChargeDetail,
    Hold,
    Ledger,
    LinkRefused,
    Period,
    Quote,
    all_keys,
    period_key,
    reset_time,
)
from bot.storage import Database, DatabaseBusy
from bot.tokens import TokenCounts
from tests.doubles import Clock
from tests.harness import check_rollups
from tests.ledger.ledgers import Opener

USERS = ("u:1", "u:2", "u:3")
MODELS = ("test/model", "test/other")  # a settle's model, by hold id: rollups are kept per model
DEFAULT_CAP = 3_000_000
GLOBAL_CAP = 4_000_000
# one database per test run (the fixture's), reused by every example Hypothesis draws
_DATABASES: weakref.WeakKeyDictionary[Opener, Database] = weakref.WeakKeyDictionary()
START = datetime(2026, 12, 27, 22, 0, tzinfo=UTC)  # a Sunday: a week, a month and a year end are near

CAPS = st.sampled_from([None, 0, 400_000, 1_500_000, 3_000_000, 6_000_000])
PERIODS = st.sampled_from([None, "daily", "weekly", "monthly", "total"])
QUOTES = st.builds(
    Quote,
    input_nanos=st.sampled_from([0, 1, 50_000, 333_333]),
    output_nanos_per_token=st.sampled_from([Decimal(0), Decimal("0.4"), Decimal(1000), Decimal("1234.5")]),
    max_output_tokens=st.integers(1, 2_000),
    min_output_tokens=st.integers(1, 64),
)
JUMPS = st.sampled_from(["1s", "7min", "3h", "1d", "to-midnight", "to-monday", "to-month-end"])
PICK = st.integers(0, 50)  # which open hold (modulo how many there are)
USAGE = st.integers(0, 1000)  # per mille of the output a hold allowed
EXCESS = st.sampled_from([0, 0, 0, 1, 777_777])  # reported beyond what the usage could cost
LINK = st.tuples(st.sampled_from(USERS), st.sampled_from(USERS))  # keep's account absorbs join's
STEPS = st.one_of(
    st.tuples(st.just("reserve"), st.sampled_from(USERS), QUOTES),
    st.tuples(st.just("settle"), PICK, USAGE, USAGE, EXCESS),
    st.tuples(st.just("release"), PICK),
    st.tuples(st.just("cap"), st.sampled_from(USERS), CAPS, st.booleans(), PERIODS),
    st.tuples(st.just("clock"), JUMPS),
    st.tuples(st.just("link"), LINK),
    st.tuples(
        st.just("burst"),
        st.lists(st.tuples(st.sampled_from(USERS), QUOTES), min_size=2, max_size=8),
        st.lists(st.tuples(PICK, st.booleans(), USAGE), max_size=4),
        st.lists(LINK, max_size=2),
    ),
    st.tuples(st.just("crash")),
)


@dataclass
class Open:
    hold: Hold
    quote: Quote
    reserved_at: datetime
    seq: int


@dataclass
class Model:
    """What the ledger should hold, kept independently of its tables."""

    clock: Clock
    open: list[Open] = field(default_factory=list)
    spent: dict[tuple[str, str], int] = field(default_factory=dict)  # (scope, key) → charged
    absorbed: int = 0  # reported beyond the holds, all told
    caps: dict[str, tuple[int | None, Period]] = field(default_factory=dict)  # per account
    loosened: dict[str, tuple[datetime | None, int]] = field(default_factory=dict)  # until, before seq
    folded: dict[str, str] = field(default_factory=dict)  # absorbed account → the account it went into
    seq: int = 0

    def account(self, identity: str) -> str:
        """The account `identity` spends from: follow the merges (each account is absorbed at most once)."""
        while identity in self.folded:
            identity = self.folded[identity]
        return identity

    def limits(self, account: str) -> tuple[int | None, Period]:
        return self.caps.get(account, (DEFAULT_CAP, "daily"))

    def expected(self) -> dict[tuple[str, str], int]:
        """The running totals: each charge on the account it was folded into since, as merges move them."""
        found: dict[tuple[str, str], int] = {}
        for (scope, key), spent in self.spent.items():
            moved = (self.account(scope), key)
            found[moved] = found.get(moved, 0) + spent
        return {k: v for k, v in found.items() if v}

    def loosen(self, account: str, until: datetime | None, before: int) -> None:
        """spent + held may be above the cap until `until` and the holds taken before `before` close."""
        if account in self.loosened:
            old_until, old_before = self.loosened[account]
            until = None if until is None or old_until is None else max(until, old_until)
            before = max(before, old_before)
        self.loosened[account] = (until, before)

    def merged(self, keep: str, gone: str) -> None:
        """A merge committed; when the two spends together pass the surviving cap, it is like lowering it."""
        self.folded[gone] = keep
        account = self.account(keep)
        cap, period = self.limits(account)
        now = self.clock()
        spent = self.expected().get((account, period_key(period, now)), 0)
        held = sum(o.hold.amount for o in self.open if o.hold.user == account)
        if cap is not None and spent + held > cap:
            self.loosen(account, reset_time(period, now), self.seq + 1)

    def charge(self, item: Open, amount: int) -> None:
        for key in all_keys(item.reserved_at):
            for scope in (item.hold.user, GLOBAL):
                self.spent[(scope, key)] = self.spent.get((scope, key), 0) + amount

    def strict(self, account: str) -> bool:
        """Whether spent + held ≤ cap must hold now (no lowering, period change or merge still in effect)."""
        if account not in self.loosened:
            return True
        until, before = self.loosened[account]
        if until is None or self.clock() < until:
            return False
        return not any(o.hold.user == account and o.seq < before for o in self.open)


def used_cost(item: Open, input_permille: int, output_permille: int) -> int:
    """An actual cost within the hold: part of the input, part of the output the hold allowed."""
    q = item.quote
    tokens = item.hold.max_output_tokens * output_permille // 1000
    cost = q.input_nanos * input_permille // 1000 + int(
        (q.output_nanos_per_token * tokens).to_integral_value(rounding="ROUND_CEILING")
    )
    assert cost <= item.hold.amount
    return cost


async def wipe(db: Database) -> None:
    async with db.write() as tx:
        for table in ("charges", "rollups", "holds", "totals", "users", "links"):
            await tx.execute(f"DELETE FROM {table}")
        await tx.execute("UPDATE global_state SET held = 0 WHERE id = 1")


def ledger_for(db: Database, clock: Clock) -> Ledger:
    return Ledger(
        db,
        default_cap_nanos=DEFAULT_CAP,
        default_period="daily",
        global_cap_nanos=GLOBAL_CAP,
        clock=clock,
    )


def jump(clock: Clock, how: str) -> None:
    now = clock()
    midnight = reset_time("daily", now)
    assert midnight is not None
    if how == "to-midnight":
        clock.now = midnight - timedelta(seconds=1)
    elif how == "to-monday":
        monday = reset_time("weekly", now)
        assert monday is not None
        clock.now = monday - timedelta(seconds=1)
    elif how == "to-month-end":
        first = reset_time("monthly", now)
        assert first is not None
        clock.now = first - timedelta(seconds=1)
    else:
        amount, unit = int(how.rstrip("sminhd")), how.lstrip("0123456789")
        clock.advance(**{{"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}[unit]: amount})


async def reserve(ledger: Ledger, model: Model, user: str, quote: Quote) -> None:
    moment = model.clock()
    try:
        hold = await ledger.reserve(user, quote)
    except CapReached:
        return
    assert hold.max_output_tokens <= quote.max_output_tokens
    assert hold.max_output_tokens >= min(quote.min_output_tokens, quote.max_output_tokens)
    model.seq += 1
    model.open.append(Open(hold, quote, moment, model.seq))


async def settle(ledger: Ledger, model: Model, item: Open, cost: int | None) -> None:
    if cost is None:
        await ledger.release(item.hold)
        return
    tokens = TokenCounts(input_tokens=cost % 97, cache_read_tokens=cost % 5, output_tokens=cost % 89)
    detail = ChargeDetail(model=MODELS[item.hold.id % len(MODELS)], tokens=tokens)
    charged = await ledger.settle(item.hold, cost, detail)
    assert charged == min(cost, item.hold.amount)
    model.charge(item, charged)
    model.absorbed += cost - charged


async def link(
    ledger: Ledger, model: Model, keep: str, join: str, *, racing: bool = False
) -> tuple[str, str] | None:
    """Fold `join`'s account into `keep`'s; (survivor, absorbed) when it happened.

    Alone, the refusals are exactly what the model predicts; racing reserves and settles, a merge may also
    find its accounts moved by another merge (busy, on PostgreSQL) or a hold taken while it waited.
    """
    accounts = (model.account(keep), model.account(join))
    in_flight = any(o.hold.user == accounts[1] for o in model.open)
    try:
        linked = await ledger.link(keep, join)
    except LinkRefused as refused:
        assert racing or refused.reason == ("same_account" if accounts[0] == accounts[1] else "in_flight")
        return None
    except DatabaseBusy:
        assert racing and ledger.db.dialect == "postgres"
        return None
    assert racing or (accounts[0] != accounts[1] and not in_flight)
    assert racing or (linked.account, linked.absorbed) == accounts
    return linked.account, linked.absorbed


def take(model: Model, pick: int) -> Open | None:
    return model.open.pop(pick % len(model.open)) if model.open else None


async def step(ledger: Ledger, model: Model, action: tuple[Any, ...]) -> Ledger:
    kind = action[0]
    if kind == "reserve":
        await reserve(ledger, model, action[1], action[2])
    elif kind in ("settle", "release"):
        if (item := take(model, action[1])) is not None:
            cost = used_cost(item, action[2], action[3]) + action[4] if kind == "settle" else None
            await settle(ledger, model, item, cost)
    elif kind == "cap":
        _, user, cap, unlimited, period = action
        await ledger.set_cap(user, cap, unlimited=unlimited, period=period)
        account = model.account(user)
        old_cap, old_period = model.limits(account)
        new_cap = None if unlimited else (DEFAULT_CAP if cap is None else cap)
        new_period: Period = period or "daily"
        model.caps[account] = (new_cap, new_period)
        lowered = new_cap is not None and (old_cap is None or new_cap < old_cap)
        if lowered or new_period != old_period:
            model.loosened[account] = (reset_time(new_period, model.clock()), model.seq + 1)
    elif kind == "link":
        if (merged := await link(ledger, model, *action[1])) is not None:
            model.merged(*merged)
    elif kind == "clock":
        jump(model.clock, action[1])
    elif kind == "burst":
        _, wanted, closing, links = action
        # merges first, so on PostgreSQL they take their locks while the reserves resolve their accounts
        merges = [link(ledger, model, keep, join, racing=True) for keep, join in links]
        jobs = [reserve(ledger, model, user, quote) for user, quote in wanted]
        for pick, settles, usage in closing:
            if (item := take(model, pick)) is not None:
                jobs.append(settle(ledger, model, item, used_cost(item, usage, usage) if settles else None))
        done = await asyncio.gather(*merges, *jobs)
        for merged in done[: len(merges)]:
            if merged is not None:
                model.merged(*merged)
    else:  # crash: the process dies with holds open; a new ledger reconciles them at start
        restarted = ledger_for(ledger.db, model.clock)
        assert await restarted.reconcile() == len(model.open)
        for item in model.open:
            model.charge(item, item.hold.amount)
        model.open.clear()
        return restarted
    return ledger


async def check(ledger: Ledger, model: Model) -> None:
    db = ledger.db
    charges = await db.fetchall("SELECT user_id, cost, absorbed, created_at FROM charges")
    assert sum(int(row["absorbed"]) for row in charges) == model.absorbed
    from_charges: dict[tuple[str, str], int] = {}
    for row in charges:
        assert int(row["cost"]) >= 0 and int(row["absorbed"]) >= 0
        for key in all_keys(datetime.fromtimestamp(int(row["created_at"]), UTC)):
            for scope in (str(row["user_id"]), GLOBAL):
                from_charges[(scope, key)] = from_charges.get((scope, key), 0) + int(row["cost"])
    totals = {
        (str(r["scope"]), str(r["period_key"])): int(r["spent"])
        for r in await db.fetchall("SELECT scope, period_key, spent FROM totals")
    }
    assert all(v >= 0 for v in totals.values())
    nonzero = {k: v for k, v in totals.items() if v}
    assert nonzero == {k: v for k, v in from_charges.items() if v}
    assert nonzero == model.expected()

    await check_rollups(db)

    links = {str(r["identity"]): str(r["account"]) for r in await db.fetchall("SELECT * FROM links")}
    assert links == {identity: model.account(identity) for identity in model.folded}
    holds = await db.fetchall("SELECT id, user_id, amount FROM holds")
    assert sorted(int(h["id"]) for h in holds) == sorted(o.hold.id for o in model.open)
    assert all(int(h["amount"]) >= 0 for h in holds)
    rolled = {str(r["scope"]) for r in await db.fetchall("SELECT DISTINCT scope FROM rollups")}
    absorbed = (
        {str(h["user_id"]) for h in holds}
        | {str(c["user_id"]) for c in charges}
        | {s for s, _ in totals}
        | rolled
    )
    assert not absorbed & links.keys(), "money left on an account folded into another"
    held = {user: sum(int(h["amount"]) for h in holds if h["user_id"] == user) for user in USERS}
    for row in await db.fetchall("SELECT user_id, held FROM users"):
        assert int(row["held"]) == held.get(str(row["user_id"]), 0) >= 0

    now = model.clock()
    gkey = period_key("daily", now)
    assert totals.get((GLOBAL, gkey), 0) + sum(held.values()) <= GLOBAL_CAP
    for (scope, key), spent in totals.items():  # past days too: a late settle lands in its own day
        if scope == GLOBAL and key.startswith("daily:"):
            assert spent <= GLOBAL_CAP
    for user in USERS:
        account = model.account(user)
        cap, period = model.limits(account)
        spent = totals.get((account, period_key(period, now)), 0)
        summary = await ledger.summary(user)
        assert (summary.user, summary.spent, summary.held) == (account, spent, held[account])
        assert (summary.cap, summary.period) == (cap, period)
        if cap is not None and model.strict(account):
            assert spent + held[account] <= cap, (account, spent, held[account], cap)
            assert summary.remaining is not None and summary.remaining >= 0
        assert summary.global_remaining == GLOBAL_CAP - totals.get((GLOBAL, gkey), 0) - sum(held.values())


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same sequences every run: a failure reproduces, CI never flakes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEPS, min_size=5, max_size=30))
async def test_random_interleavings_keep_every_money_invariant(opener: Opener, steps: list[Any]) -> None:
    if opener not in _DATABASES:
        _DATABASES[opener] = await opener()
    db = _DATABASES[opener]  # the same database for every example: wiped first
    await wipe(db)
    model = Model(Clock(START))
    ledger = ledger_for(db, model.clock)
    for action in steps:
        ledger = await step(ledger, model, action)
        await check(ledger, model)
    for item in list(model.open):  # and everything still closes cleanly
        await settle(ledger, model, item, item.hold.amount)
    model.open.clear()
    await check(ledger, model)
