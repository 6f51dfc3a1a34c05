"""Stop whichever process receives the press: two cores on one PostgreSQL database stand for two webhook
workers (or two Discord shards). The answer streams in core A, the press arrives at core B; the answer is
cut in A exactly as a local Stop cuts it, and B's presser reads the same one line a local press gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.core import open_core
from bot.ledger import STALE_AFTER
from bot.wording import STOP_FINISHED, STOP_NOT_YOURS, STOPPED_NOTE, STOPPING
from tests.core.test_ask import openai_settings
from tests.doubles import Clock, RecordingReply, RecordingStream, eventually, message
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import OWNER, Harness, Reserved, check_invariants, harness, settings_for, spy_reserves
from tests.postgres import postgres_url, scratch_schema

BOB = "telegram:2"
CAROL = "telegram:3"


@dataclass
class StopReply(RecordingReply):
    """A reply that keeps the Stop id each streamed answer was shown with, as a platform's button does."""

    stops: list[str] = field(default_factory=list)
    streams: list[RecordingStream] = field(default_factory=list)

    def stream(self, stop: str | None = None) -> RecordingStream:
        if stop is not None:
            self.stops.append(stop)
        self.streams.append(RecordingStream(self))
        return self.streams[-1]


@asynccontextmanager
async def two_processes(fake: FakeOpenAI, tmp_path: Path) -> AsyncIterator[tuple[Harness, Harness]]:
    """Two cores, each with its own pools and listener, on one fresh PostgreSQL schema."""
    clock = Clock()
    async with scratch_schema(postgres_url()) as url, AsyncExitStack() as stack:
        settings = settings_for(tmp_path, database_url=url, **openai_settings(fake))
        first = await stack.enter_async_context(open_core(settings, clock=clock))
        second = await stack.enter_async_context(open_core(settings, clock=clock))
        yield Harness(first, clock, settings), Harness(second, clock, settings)


async def streaming_in(a: Harness, user: str) -> tuple[asyncio.Task[None], StopReply]:
    """`user` asks in process A; returns once the model has sent its three words and gone silent."""
    reply = StopReply()
    asking = asyncio.create_task(a.core.handle(message("/ask count", user=user), reply))
    await eventually(lambda: bool(reply.streams) and len(reply.streams[0].deltas) == 3, "three words shown")
    assert len(reply.stops) == 1
    return asking, reply


async def in_flight(h: Harness) -> int:
    row = await h.db.fetchone("SELECT COUNT(*) AS n FROM answers_in_flight")
    assert row is not None
    return int(row["n"])


async def charged(h: Harness, user: str) -> tuple[int, int]:
    row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", user)
    assert row is not None
    return int(row["cost"]), int(row["estimated"])


@pytest.fixture
def stalling(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)  # then held open
    return fake_openai


async def test_a_stop_pressed_in_another_process_cuts_the_answer_where_it_streams(
    stalling: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_processes(stalling, tmp_path) as (a, b):
        reserved: list[Reserved] = spy_reserves(a, monkeypatch)
        asking, reply = await streaming_in(a, BOB)
        assert await in_flight(b) == 1  # A's answer, seen from B

        assert await b.core.stop(reply.stops[0], by=BOB) == STOPPING
        await asyncio.wait_for(asking, 10)  # A's handling ends quietly, as after a local stop
        await eventually(lambda: stalling.disconnects == 1, "the provider request cancelled")
        (answer,) = reply.answers
        assert answer.startswith("one two three") and answer.endswith(STOPPED_NOTE)
        cost, estimated = await charged(a, BOB)
        assert (cost, estimated) == (reserved[0].bound_of("one two three "), 1)  # as for a local stop
        assert cost < reserved[0].hold.amount  # never the whole hold
        assert await in_flight(a) == 0
        assert await b.core.stop(reply.stops[0], by=BOB) == STOP_FINISHED  # and now it is finished
        assert await a.core.stop(reply.stops[0], by=BOB) == STOP_FINISHED
        await check_invariants(a.ledger)


async def test_a_strangers_press_in_another_process_is_refused_and_changes_nothing(
    stalling: FakeOpenAI, tmp_path: Path
) -> None:
    async with two_processes(stalling, tmp_path) as (a, b):
        asking, reply = await streaming_in(a, BOB)
        assert await b.core.stop(reply.stops[0], by=CAROL) == STOP_NOT_YOURS
        await asyncio.sleep(0.2)  # time enough for a relayed press to have arrived, had one been sent
        assert stalling.disconnects == 0 and not asking.done()
        assert reply.streams[0].deltas == ["one ", "two ", "three "] and not reply.streams[0].closed
        assert await in_flight(a) == 1

        assert await b.core.stop(reply.stops[0], by=OWNER) == STOPPING  # an owner may stop anyone's
        await asyncio.wait_for(asking, 10)
        assert reply.answers[0].endswith(STOPPED_NOTE)
        await eventually(lambda: stalling.disconnects == 1, "the provider request cancelled")


async def test_a_finished_answer_reads_finished_from_every_process(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = Script(text="done already")
    async with two_processes(fake_openai, tmp_path) as (a, b):
        reply = StopReply()
        await a.core.handle(message("/ask quick", user=BOB), reply)
        assert reply.answers == ["done already "]
        assert await in_flight(a) == 0
        for core in (a.core, b.core):
            assert await core.stop(reply.stops[0], by=BOB) == STOP_FINISHED
        assert await b.core.stop("0123456789abcdef", by=OWNER) == STOP_FINISHED  # no such answer at all


async def test_an_answer_of_a_process_that_died_reads_finished_and_is_cleared_at_the_next_start(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    async with two_processes(fake_openai, tmp_path) as (a, b):
        gone = int((a.clock() - STALE_AFTER).timestamp()) - 1
        await a.db.execute("INSERT INTO instances (id, seen_at) VALUES ('crashed', ?)", gone)
        await a.db.execute(
            "INSERT INTO answers_in_flight (id, user_id, instance, started_at)"
            " VALUES ('feedfacefeedface', ?, 'crashed', ?)",
            BOB,
            gone,
        )
        assert await b.core.stop("feedfacefeedface", by=BOB) == STOP_FINISHED
        async with open_core(a.settings, clock=a.clock):  # a third process starts
            assert await in_flight(a) == 0


async def test_on_sqlite_nothing_is_kept_in_flight(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    """One host, one process: a Stop stays local, and an answer writes nothing for other processes."""
    fake_openai.default = Script(text="local only")
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reply = StopReply()
        asking = asyncio.create_task(h.core.handle(message("/ask hi", user=BOB), reply))
        await eventually(lambda: bool(reply.streams), "the answer streaming")
        assert await in_flight(h) == 0
        await asking
        assert await h.core.stop(reply.stops[0], by=BOB) == STOP_FINISHED


async def test_an_adapters_own_stop_id_names_the_answer_in_every_process(
    stalling: FakeOpenAI, tmp_path: Path
) -> None:
    """A platform whose stop control names the answer by the adapter's own key (Telegram's draft stop)
    passes it as `Incoming.stop`; a second answer in flight with the same key gets an id of its own."""
    async with two_processes(stalling, tmp_path) as (a, b):
        reply, again = StopReply(), StopReply()
        asking = asyncio.create_task(a.core.handle(message("/ask count", user=BOB, stop="draft:2:77"), reply))
        await eventually(lambda: bool(reply.streams) and len(reply.streams[0].deltas) == 3, "three words")
        second = asyncio.create_task(a.core.handle(message("/ask more", user=BOB, stop="draft:2:77"), again))
        await eventually(lambda: bool(again.stops), "the second answer streaming")
        assert reply.stops == ["draft:2:77"] and again.stops != ["draft:2:77"]

        assert await b.core.stop("draft:2:77", by=BOB) == STOPPING
        await asyncio.wait_for(asking, 10)
        assert reply.answers[0].endswith(STOPPED_NOTE)
        assert not second.done()  # the other answer goes on
        assert await b.core.stop(again.stops[0], by=BOB) == STOPPING
        await asyncio.wait_for(second, 10)
        await check_invariants(a.ledger)
