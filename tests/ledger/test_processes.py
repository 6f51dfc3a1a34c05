"""Several processes on one database: a start-up settles only holds whose process is gone.

Each process heartbeats (`Ledger.heartbeat`, every `HEARTBEAT` while `running`); a hold is left behind
when its process has no heartbeat newer than `STALE_AFTER`, or retired cleanly with the hold still open.
"""

from __future__ import annotations

from bot.ledger import HEARTBEAT, STALE_AFTER
from tests.doubles import Clock
from tests.ledger.ledgers import DETAIL, Opener, charges_sum, make_ledger, open_holds, quote


async def test_a_second_process_starting_leaves_the_first_ones_answers_alone(opener: Opener) -> None:
    clock = Clock()
    first = make_ledger(await opener(), clock)
    async with first.running() as reconciled:
        assert reconciled == 0
        hold = await first.reserve("u:1", quote())
        second = make_ledger(await opener(), clock)
        async with second.running() as reconciled_by_second:
            assert reconciled_by_second == 0  # the first process is alive: its hold is its own
            clock.advance(seconds=HEARTBEAT.total_seconds())
            await first.heartbeat()
            assert await second.reconcile() == 0  # a periodic sweep while both run: still nothing
            charged = await first.settle(hold, 1234, DETAIL)
    db = await opener()
    assert charged == 1234 and await charges_sum(db, "u:1") == 1234  # the exact cost, not the hold
    assert await open_holds(db) == 0


async def test_a_process_that_stopped_beating_has_its_holds_swept_by_a_live_one(opener: Opener) -> None:
    clock = Clock()
    dead = make_ledger(await opener(), clock)
    await dead.heartbeat()
    hold = await dead.reserve("u:1", quote())  # ...and then the process is killed: no settle, no retire
    live = make_ledger(await opener(), clock)
    async with live.running() as reconciled:
        assert reconciled == 0  # its heartbeat is fresh: it might still be answering
        clock.advance(seconds=STALE_AFTER.total_seconds() + 1)
        await live.heartbeat()
        assert await live.reconcile() == 1  # silent too long: gone
        assert await live.reconcile() == 0
    db = await opener()
    assert await charges_sum(db, "u:1") == hold.amount
    assert await open_holds(db) == 0
    assert await db.fetchall("SELECT id FROM instances WHERE id = ?", dead.instance) == []  # forgotten


async def test_a_clean_stop_leaves_its_open_holds_to_the_next_start(opener: Opener) -> None:
    clock = Clock()
    stopping = make_ledger(await opener(), clock)
    async with stopping.running():
        hold = await stopping.reserve("u:1", quote())  # an answer cut short by the shutdown
    restarted = make_ledger(await opener(), clock)  # at once: no need to wait for a stale heartbeat
    async with restarted.running() as reconciled:
        assert reconciled == 1
    assert await charges_sum(await opener(), "u:1") == hold.amount


async def test_holds_from_before_heartbeats_are_reconciled_at_start(opener: Opener) -> None:
    db, clock = await opener(), Clock()
    await make_ledger(db, clock).reserve("u:1", quote())
    await db.execute("UPDATE holds SET instance = NULL")  # as a database migrated from version 2 has them
    async with make_ledger(await opener(), clock).running() as reconciled:
        assert reconciled == 1
    assert await open_holds(db) == 0
