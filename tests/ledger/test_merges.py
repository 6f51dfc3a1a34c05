"""Account merges racing money changes on PostgreSQL, where writers really run side by side.

On PostgreSQL a write resolves the identity's account (`account_of`, no lock on `links`) and then locks
that account's users row; a `/link` committing in between folds the account into another. These tests
stop a reserve, a cap change or a block right there (`lock_user` waits on an event), let a merge finish,
and check that the change lands on the surviving account and respects its cap. SQLite's write lock covers
the whole file, so nothing can commit in that gap there: these tests need PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import pytest

from bot.ledger import Blocked, Hold, Ledger, LinkRefused, Quote
from bot.ledger.accounts import MOVE_RETRIES
from bot.storage import Database, DatabaseBusy, Row, Tx, open_database
from tests.doubles import Clock
from tests.harness import CENT, charge, check_invariants
from tests.ledger.ledgers import DETAIL, Opener, make_ledger, open_holds, quote
from tests.postgres import postgres_url, scratch_schema

T = TypeVar("T")
KEEP, JOIN = "telegram:1", "discord:2"  # the surviving account, and the identity folded into it


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    """A PostgreSQL database in a scratch schema (skipped, saying why, without TEST_DATABASE_URL)."""
    async with scratch_schema(postgres_url()) as url:
        db = await open_database(url)
        try:
            yield db
        finally:
            await db.close()


class Gate:
    """Stops the first `lock_user` of one ledger until `open()`: the gap between resolving and locking."""

    def __init__(self, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waiting = asyncio.Event()
        self._go = asyncio.Event()
        self.accounts: list[str] = []  # every account the gated ledger locked, in order
        real = ledger.lock_user

        async def gated(tx: Tx, account: str, now: int) -> Row:
            self.accounts.append(account)
            if not self.waiting.is_set():
                self.waiting.set()
                await self._go.wait()
            return await real(tx, account, now)

        monkeypatch.setattr(ledger, "lock_user", gated)

    def open(self) -> None:
        self._go.set()


async def race(
    db: Database, monkeypatch: pytest.MonkeyPatch, change: Callable[[Ledger], Awaitable[T]]
) -> tuple[T, list[str]]:
    """Run `change` on a gated ledger, fold JOIN into KEEP while it waits, then let it go on.

    Returns what `change` returned and the accounts it locked (the first one is JOIN's own, now gone).
    """
    clock = Clock()
    gated, linker = make_ledger(db, clock), make_ledger(db, clock)
    gate = Gate(gated, monkeypatch)
    task = asyncio.create_task(change(gated))
    await gate.waiting.wait()  # it resolved JOIN's account (its own) and is about to lock it
    linked = await linker.link(KEEP, JOIN)
    assert (linked.account, linked.absorbed) == (KEEP, JOIN)
    gate.open()
    result = await task
    await check_invariants(linker)
    return result, gate.accounts


async def test_a_reserve_overtaken_by_a_merge_holds_on_the_surviving_account(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = make_ledger(pg, Clock())
    left = 500_000
    await charge(ledger, KEEP, 10 * CENT - left)  # the surviving account is nearly spent

    hold, locked = await race(pg, monkeypatch, lambda gated: gated.reserve(JOIN, quote()))

    assert locked == [JOIN, KEEP]  # it saw the merge after locking and started over on the survivor
    assert hold.user == KEEP
    assert hold.amount == left < quote().worst_case(1000)  # clamped to what the survivor has left
    summary = await ledger.summary(JOIN)
    assert (summary.user, summary.spent + summary.held, summary.remaining) == (KEEP, 10 * CENT, 0)
    assert await ledger.settle(hold, hold.amount, DETAIL) == left
    assert (await ledger.summary(KEEP)).spent == 10 * CENT
    await check_invariants(ledger)


async def test_a_cap_change_overtaken_by_a_merge_caps_the_surviving_account(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = make_ledger(pg, Clock())
    await charge(ledger, KEEP, 3 * CENT)

    await race(pg, monkeypatch, lambda gated: gated.set_cap(JOIN, 5 * CENT, period="weekly"))

    for who in (KEEP, JOIN):
        summary = await ledger.summary(who)
        assert (summary.user, summary.cap, summary.period, summary.remaining) == (
            KEEP,
            5 * CENT,
            "weekly",
            2 * CENT,
        )


async def test_a_block_overtaken_by_a_merge_blocks_the_surviving_account(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = make_ledger(pg, Clock())

    await race(pg, monkeypatch, lambda gated: gated.set_blocked(JOIN, True))

    for who in (KEEP, JOIN):
        assert (await ledger.profile(who)).blocked
        with pytest.raises(Blocked):
            await ledger.reserve(who, quote())


async def test_a_hold_taken_while_a_merge_waits_for_its_locks_refuses_the_merge(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge's "nothing in flight" check reads the absorbed row under its lock, not before it."""
    clock = Clock()
    ledger, linker = make_ledger(pg, clock), make_ledger(pg, clock)
    gate = Gate(linker, monkeypatch)
    merging = asyncio.create_task(linker.link(KEEP, JOIN))
    await gate.waiting.wait()  # both accounts resolved, no lock taken yet
    hold: Hold = await ledger.reserve(JOIN, Quote(CENT, Decimal(0), 100, 16))
    gate.open()
    with pytest.raises(LinkRefused) as refused:
        await merging
    assert refused.value.reason == "in_flight"
    assert await ledger.settle(hold, CENT, DETAIL) == CENT  # the hold still settles on its own account
    assert (await ledger.summary(JOIN)).user == JOIN
    assert (await linker.link(KEEP, JOIN)).absorbed == JOIN  # and once it has, the merge goes through
    assert (await ledger.summary(JOIN)).spent == CENT
    await check_invariants(ledger)


async def test_an_account_that_keeps_moving_is_busy_after_a_few_fresh_starts(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded: a reserve never loops on an account that keeps moving; it gives up having written nothing."""
    db = await opener()
    ledger = make_ledger(db, Clock())
    await ledger.set_cap(JOIN, 5 * CENT)
    answers = iter(range(1000))

    async def moving(reader: Tx | Database, identity: str) -> str:
        return (KEEP, JOIN)[next(answers) % 2]  # a different account on every look

    monkeypatch.setattr(ledger, "account_of", moving)
    async with db.write() as tx:
        serialised = tx.serialised
    if serialised:  # SQLite: nothing can move an account inside a transaction, so it looks once
        await ledger.reserve(JOIN, quote())
        assert next(answers) == 1
        monkeypatch.undo()
        assert await open_holds(db) == 1
        return
    with pytest.raises(DatabaseBusy):
        await ledger.reserve(JOIN, quote())
    assert next(answers) == 2 * MOVE_RETRIES  # resolved before and after each lock, then gave up
    with pytest.raises(DatabaseBusy):
        await ledger.set_cap(JOIN, 7 * CENT)
    monkeypatch.undo()
    assert await open_holds(db) == 0
    assert (await ledger.summary(JOIN)).cap == 5 * CENT


async def test_an_answer_in_flight_on_a_free_model_refuses_the_merge(opener: Opener) -> None:
    """A $0 hold adds nothing to `held` but still settles on its account: it is in flight all the same."""
    db = await opener()
    ledger = make_ledger(db, Clock())
    hold = await ledger.reserve(JOIN, Quote(0, Decimal(0), 100, 16))
    assert hold.amount == 0
    with pytest.raises(LinkRefused) as refused:
        await ledger.link(KEEP, JOIN)
    assert refused.value.reason == "in_flight"
    assert await ledger.settle(hold, 0, DETAIL) == 0
    assert (await ledger.link(KEEP, JOIN)).absorbed == JOIN
    await check_invariants(ledger)
