"""`Ledger.settle_surely`: a settle the database refuses is kept, retried (in the background and by the
heartbeat sweep), flushed at a clean stop, and only what still can't be written is left as a hold, logged,
for the next start's reconcile."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.ledger import ChargeDetail, Hold, Ledger
from bot.ledger import unsettled as unsettled_module
from bot.storage import DatabaseBusy
from tests.doubles import Clock
from tests.ledger.ledgers import DETAIL, Opener, charges_sum, make_ledger, open_holds, quote


def refuse_settles(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The next `times` settles fail as a busy database does; returns the costs every attempt carried."""
    settle = ledger.settle
    attempts: list[int] = []

    async def busy(hold: Hold, cost: int, detail: ChargeDetail) -> int:
        attempts.append(cost)
        if len(attempts) <= times:
            raise DatabaseBusy("database is locked")
        return await settle(hold, cost, detail)

    monkeypatch.setattr(ledger, "settle", busy)
    return attempts


async def test_the_heartbeat_sweep_writes_a_kept_settle(
    opener: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unsettled_module, "FIRST_RETRY", 3600.0)  # only the sweep retries here
    ledger = make_ledger(await opener(), Clock())
    async with ledger.running():
        hold = await ledger.reserve("u:1", quote())
        attempts = refuse_settles(ledger, monkeypatch, times=1)
        assert await ledger.settle_surely(hold, 1234, DETAIL) is None  # kept
        assert len(ledger.unsettled) == 1 and await open_holds(ledger.db) == 1
        assert await ledger.unsettled.retry() == 0  # what the heartbeat does each beat
        assert attempts == [1234, 1234]
    db = await opener()
    assert await charges_sum(db, "u:1") == 1234 and await open_holds(db) == 0


async def test_a_clean_stop_flushes_kept_settles_and_leaves_only_what_cannot_be_written(
    opener: Opener, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("bot.ledger.ledger.FLUSH_LIMIT", timedelta(seconds=0.5))
    monkeypatch.setattr(unsettled_module, "FIRST_RETRY", 3600.0)  # only the flush retries here
    clock = Clock()
    ledger = make_ledger(await opener(), clock)
    settle = ledger.settle
    tried: list[int] = []

    async def flaky(hold: Hold, cost: int, detail: ChargeDetail) -> int:
        tried.append(hold.id)  # every first attempt fails; `lost` never gets through
        if hold.id == lost.id or tried.count(hold.id) == 1:
            raise DatabaseBusy("database is locked")
        return await settle(hold, cost, detail)

    with caplog.at_level(logging.WARNING):
        async with ledger.running():
            landed = await ledger.reserve("u:1", quote())
            lost = await ledger.reserve("u:2", quote())
            monkeypatch.setattr(ledger, "settle", flaky)
            assert await ledger.settle_surely(landed, 1234, DETAIL) is None
            assert await ledger.settle_surely(lost, 999, DETAIL) is None
            assert len(ledger.unsettled) == 2
    assert f"hold {lost.id} of u:2: its settle could not be written before the stop" in caplog.text
    db = await opener()
    assert await charges_sum(db, "u:1") == 1234  # written by the flush
    restarted = make_ledger(await opener(), clock)
    async with restarted.running() as reconciled:
        assert reconciled == 1  # only the one that could not be written, at the hold
    assert await charges_sum(db, "u:2") == lost.amount
    assert await open_holds(db) == 0


async def test_a_release_refused_is_retried_too(opener: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider failed before any text: the hold must go, not wait for a restart to be charged in full."""
    ledger = make_ledger(await opener(), Clock())
    async with ledger.running():
        hold = await ledger.reserve("u:1", quote())
        release = ledger.release
        failures = [DatabaseBusy("database is locked")]

        async def busy_once(held: Hold) -> None:
            if failures:
                raise failures.pop()
            await release(held)

        monkeypatch.setattr(ledger, "release", busy_once)
        await ledger.release_surely(hold)
    db = await opener()
    assert await open_holds(db) == 0 and await charges_sum(db, "u:1") == 0
