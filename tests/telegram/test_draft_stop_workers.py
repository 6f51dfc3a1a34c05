"""Telegram's own stop button on a draft, behind several webhook workers: two Applications, each with its
own core, on one PostgreSQL schema, fed by POSTs to their webhooks as a load balancer would. The press
names only the chat and the draft, and it may reach a worker that is not streaming the answer; the answer
is cut where it streams, exactly as a press there cuts it. Draft ids are drawn at random, so workers that
each choose their own never hand one chat the same id."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.telegram_bot import SECRET_HEADER, webhook_secret
from adapters.telegram_bot.reply import MAX_DRAFT_ID, new_draft_id
from bot import core as core_module
from bot.config import Settings
from bot.core import Core
from bot.wording import STOPPED_NOTE
from tests.doubles import eventually
from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.fakes.telegram_fixtures import running_bot
from tests.postgres import postgres_url, scratch_schema
from tests.telegram.test_stop import bound_of, models

ALICE = tg.user(31, "Alice", "alice")
CAROL = tg.user(33, "Carol")


class Worker:
    """One webhook worker: its core and the port its webhook listens on."""

    def __init__(self, core: Core, port: int) -> None:
        self.core = core
        self.port = port

    async def deliver(self, session: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        """POST `update` to this worker's webhook, as Telegram (through a load balancer) does."""
        url = f"http://127.0.0.1:{self.port}/telegram/webhook"
        async with session.post(url, json=update, headers={SECRET_HEADER: webhook_secret(TOKEN)}) as answer:
            assert answer.status == 200


@pytest.fixture
async def workers(
    fake_telegram: FakeTelegram, telegram_settings: Settings, fake_openai: FakeOpenAI
) -> AsyncIterator[tuple[Worker, Worker]]:
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)  # then held open
    async with scratch_schema(postgres_url()) as url, AsyncExitStack() as stack:
        settings = models(telegram_settings, fake_openai.url).model_copy(
            update={"database_url": url, "telegram_webhook_url": "https://bot.example.com"}
        )
        started = []
        for _ in range(2):
            core = await stack.enter_async_context(core_module.open_core(settings))
            running = await stack.enter_async_context(running_bot(core, settings))
            assert running.webhook_port is not None
            started.append(Worker(core, running.webhook_port))
        yield started[0], started[1]


async def charged(core: Core, user: str) -> tuple[int, int]:
    """`user`'s one charge, once settled (the cut answer settles as it ends, after the fake saw it go)."""
    db = core.services.ledger.db
    for _ in range(1000):
        row = await db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", user)
        held = await db.fetchone("SELECT COUNT(*) AS n FROM holds")
        assert held is not None
        if row is not None and int(held["n"]) == 0:
            return int(row["cost"]), int(row["estimated"])
        await asyncio.sleep(0.01)
    raise AssertionError(f"{user}'s answer was never settled")


async def in_flight(core: Core) -> int:
    row = await core.services.ledger.db.fetchone("SELECT COUNT(*) AS n FROM answers_in_flight")
    assert row is not None
    return int(row["n"])


@pytest.mark.parametrize("pressed_at", ["the other worker", "the streaming worker"])
async def test_a_drafts_stop_reaching_any_worker_cuts_the_answer_where_it_streams(
    pressed_at: str, workers: tuple[Worker, Worker], fake_telegram: FakeTelegram, fake_openai: FakeOpenAI
) -> None:
    a, b = workers
    async with aiohttp.ClientSession() as session:
        await a.deliver(session, tg.private_text(ALICE, "count"))
        await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")
        await fake_telegram.wait_for(
            lambda: any(t.startswith("one") for t in fake_telegram.drafted(31)), "the draft"
        )
        draft = fake_telegram.drafts[31][-1]
        assert str(draft["can_stop"]).lower() == "true"
        draft_id = int(draft["draft_id"])
        assert await in_flight(b.core) == 1  # A's answer, seen from B

        # the same draft id in someone else's chat names no answer: nothing changes
        await b.deliver(session, tg.generation_stopped(33, draft_id))
        await asyncio.sleep(0.2)  # time enough for a relayed press to have arrived, had one been sent
        assert fake_openai.disconnects == 0 and fake_telegram.shown(31) == []

        pressed = b if pressed_at == "the other worker" else a
        await pressed.deliver(session, tg.generation_stopped(31, draft_id))
        await eventually(lambda: fake_openai.disconnects == 1, "the provider request cancelled")
        await fake_telegram.wait_for(lambda: bool(fake_telegram.shown(31)), "the answer persisted")
    (final,) = fake_telegram.chat_messages(31)
    assert final["history"] == [final["text"]]  # one sendMessage
    assert final["text"].startswith("one two three") and final["text"].endswith(STOPPED_NOTE)
    assert await charged(a.core, "telegram:31") == (bound_of("one two three ", "count"), 1)  # not the hold
    for _ in range(1000):  # its row goes as A's handling ends, after the answer was delivered
        if await in_flight(a.core) == 0:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("A's answer still in flight")


def drawn_elsewhere(count: int) -> list[int]:
    """`count` draft ids drawn in a fresh Python process, as another webhook worker would draw them."""
    code = (
        "import json; from adapters.telegram_bot.reply import new_draft_id;"
        f" print(json.dumps([new_draft_id() for _ in range({count})]))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    drawn: list[int] = json.loads(done.stdout)
    return drawn


def test_draft_ids_of_two_workers_do_not_collide() -> None:
    """Each worker draws its own; a counter per process would give both the same ids, starting at 1.
    (300 random 31-bit draws share one with probability about 2e-5.)"""
    first, second = drawn_elsewhere(100), drawn_elsewhere(100)
    here = [new_draft_id() for _ in range(100)]
    assert len(set(first) | set(second) | set(here)) == 300
    assert all(1 <= d <= MAX_DRAFT_ID for d in (*first, *second, *here))  # Bot API: a non-zero Integer
