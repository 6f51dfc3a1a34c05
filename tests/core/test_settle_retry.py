"""A settle the database can't take when an answer ends is kept and retried until it lands: the answer was
delivered, so the person is told nothing ("nothing was charged" would be untrue), the charge is the exact
one, written once, and no hold is left for the next start to charge in full."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.ledger import ChargeDetail, Hold
from bot.storage import DatabaseBusy
from tests.core.test_ask import BOB, expected_cost, holds, openai_settings
from tests.doubles import RecordingReply, eventually, message
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import check_invariants, harness


async def test_a_settle_refused_twice_is_retried_and_charged_once_at_the_exact_cost(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.then(Script(text="Delivered.", prompt_tokens=10, completion_tokens=2))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        settle = h.ledger.settle
        attempts: list[int] = []

        async def busy_twice(hold: Hold, cost: int, detail: ChargeDetail) -> int:
            attempts.append(cost)
            if len(attempts) <= 2:
                raise DatabaseBusy("database is locked")
            return await settle(hold, cost, detail)

        monkeypatch.setattr(h.ledger, "settle", busy_twice)
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == ["Delivered. "]
        assert reply.lines == []  # no "database is busy ... Nothing was charged."
        await eventually(lambda: len(h.ledger.unsettled) == 0 and len(attempts) == 3, "the retried settle")
        assert attempts == [expected_cost(10, 2)] * 3  # the known usage was kept, not re-estimated
        rows = await h.db.fetchall("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
        assert [(int(r["cost"]), int(r["estimated"])) for r in rows] == [(expected_cost(10, 2), 0)]
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_a_locked_database_at_settle_time_is_written_once_it_frees(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: another process holds SQLite's write lock from the reserve to after the answer."""
    monkeypatch.setattr("bot.storage.sqlite_writer.BUSY_TIMEOUT_MS", 20)
    gate = asyncio.Event()
    fake_openai.then(Script(text="Paid for.", prompt_tokens=10, completion_tokens=2, hold=gate))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reply = RecordingReply()
        asking = asyncio.create_task(h.core.handle(message("/ask hi", user=BOB), reply))
        await eventually(lambda: bool(fake_openai.requests), "the question reached the model")
        other = sqlite3.connect(tmp_path / "capbot.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process takes the write lock
        try:
            gate.set()
            await asking
            assert reply.answers == ["Paid for. "] and reply.lines == []  # the person hears nothing of it
            assert await holds(h) == 1 and len(h.ledger.unsettled) == 1  # kept, not forgotten
        finally:
            other.execute("ROLLBACK")
            other.close()
        await eventually(lambda: len(h.ledger.unsettled) == 0, "the settle written after the lock")
        row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
        assert row is not None and (int(row["cost"]), int(row["estimated"])) == (expected_cost(10, 2), 0)
        assert await holds(h) == 0
        await check_invariants(h.ledger)
