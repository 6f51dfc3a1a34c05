"""Several `python -m bot web` processes behind one webhook URL, on one PostgreSQL database, as a load
balancer would feed them: updates go to the workers in turn. Every cap holds across the processes, a
person's answers come in the order asked, an update delivered to two workers is answered and charged
once, and each worker stops cleanly on SIGTERM leaving no hold."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from adapters.telegram_bot import SECRET_HEADER, webhook_secret
from bot.ledger import Ledger
from bot.money import usd_to_nanos
from bot.storage import open_database
from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.harness import check_invariants, settings_for
from tests.postgres import postgres_url, scratch_schema
from tests.processes import bot_process, free_port, process_environment

WORKERS = 3
PEOPLE = 8  # in each wave, besides Alice and Rita
ALICE_ASKS = 6  # one after another, each to the next worker
# Each answer is charged its hold, about $0.000042 here (gpt-4o-mini, MAX_OUTPUT_TOKENS 50), a little more
# with each answer in the history.
DEFAULT_CAP = Decimal("0.0001")  # two answers; a third question is refused
ALICE_CAP = Decimal("0.0005")  # room for all her questions: the order of her answers shows
# The first wave can't reach it even at every cap (0.0005 + 0.0001 + 8 × 0.0001); the second wave does.
GLOBAL_CAP = Decimal("0.0015")
KEY = "sk-workers-test-key"


@contextlib.asynccontextmanager
async def workers(
    env: dict[str, str], tmp_path: Path, count: int
) -> AsyncIterator[list[tuple[asyncio.subprocess.Process, int]]]:
    """`count` web workers, each on a port of its own; stopped by the test (or at the end of the block)."""
    async with contextlib.AsyncExitStack() as stack:
        started = []
        for _ in range(count):
            port = free_port()
            process = await stack.enter_async_context(
                bot_process("web", tmp_path, {**env, "PORT": str(port)}, never_logged=(KEY, TOKEN))
            )
            started.append((process, port))
        yield started


async def post(session: aiohttp.ClientSession, port: int, update: dict[str, Any]) -> None:
    """Deliver `update` as Telegram does; a worker answers 200 once the update has its place in line."""
    url = f"http://127.0.0.1:{port}/telegram/webhook"  # TELEGRAM_WEBHOOK_URL without a path
    async with session.post(url, json=update, headers={SECRET_HEADER: webhook_secret(TOKEN)}) as response:
        assert response.status == 200


def _interleaved(lines: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The updates of several lines taken in turn (the first of each, then the second of each, ...)."""
    longest = max(len(line) for line in lines)
    return [line[n] for n in range(longest) for line in lines if n < len(line)]


def answered(fake: FakeTelegram, asked: dict[int, int]) -> bool:
    """Every question has its one reply, and none is still being written."""
    return all(
        len(texts) == asked[chat] and not any(t.endswith("▌") for t in texts)
        for chat, texts in ((chat, fake.shown(chat)) for chat in asked)
    )


async def test_web_workers_behind_one_webhook_keep_every_cap_order_and_delivery(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    # Every answer reports more usage than its hold covers, so each is charged its full hold: the caps
    # bind on what was charged, not only on what was held.
    fake_openai.default = Script(echo=True, prompt_tokens=1_000_000)
    alice, rita = tg.user(41, "Alice", "alice"), tg.user(42, "Rita", "rita")
    async with scratch_schema(postgres_url()) as url, FakeTelegram() as fake:
        settings = settings_for(
            tmp_path,
            database_url=url,
            default_cap_usd=DEFAULT_CAP,
            global_cap_usd=GLOBAL_CAP,
            cap_period="total",
        )
        db = await open_database(url)
        ledger = Ledger.from_settings(db, settings)
        try:
            await ledger.set_cap("telegram:41", usd_to_nanos(ALICE_CAP))
            env = process_environment(
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_BASE_URL=fake.base_url,
                TELEGRAM_WEBHOOK_URL="https://bot.example.com",
                TELEGRAM_EDIT_INTERVAL="0.05",
                HOST="127.0.0.1",
                OPENAI_API_KEY=KEY,
                OPENAI_BASE_URL=fake_openai.url,
                DATABASE_URL=url,
                DATABASE_POOL_SIZE="4",
                DEFAULT_CAP_USD=str(DEFAULT_CAP),
                GLOBAL_CAP_USD=str(GLOBAL_CAP),
                CAP_PERIOD="total",
                MAX_OUTPUT_TOKENS="50",
                RATE_LIMIT_PER_MINUTE="100",
            )
            async with workers(env, tmp_path, WORKERS) as started, aiohttp.ClientSession() as session:
                await fake.wait_for(lambda: len(fake.calls_to("setWebhook")) == WORKERS, "workers up", 30)
                ports = [port for _, port in started]

                # one update delivered to two workers at once: answered once, charged once
                twice = tg.private_text(rita, "rita-1")
                await asyncio.gather(post(session, ports[0], twice), post(session, ports[1], twice))
                await fake.wait_for(lambda: len(fake.shown(42)) == 1, "Rita's answer")

                # first wave: Alice's questions one after another, everyone else's three at once; second
                # wave: new people's two each, more than the global cap leaves room for
                first = [tg.user(100 + n, f"First{n}") for n in range(PEOPLE)]
                second = [tg.user(200 + n, f"Second{n}") for n in range(PEOPLE)]
                asked: dict[int, int] = defaultdict(int)
                waves = [
                    [tg.private_text(alice, f"alice-{n}") for n in range(ALICE_ASKS)],
                    *([tg.private_text(p, f"{p['first_name']}-{n}") for p in first] for n in range(3)),
                ]
                later_wave = [
                    [tg.private_text(p, f"{p['first_name']}-{n}") for p in second] for n in range(2)
                ]
                for wave in (_interleaved(waves), _interleaved(later_wave)):
                    for index, update in enumerate(wave):
                        await post(session, ports[index % WORKERS], update)
                        asked[update["message"]["chat"]["id"]] += 1
                    await fake.wait_for(lambda: answered(fake, asked), "every question answered", 30)
                for process, _ in started:
                    process.send_signal(signal.SIGTERM)
                for process, _ in started:
                    assert await process.wait() == 0

            # one answer per question, Alice's in the order she asked them
            assert fake.shown(41) == [f"alice-{n}" for n in range(ALICE_ASKS)]
            for p in first:  # in order, the third refused by the person's cap
                name = p["first_name"]
                (*shown, refused) = fake.shown(p["id"])
                assert shown == [f"{name}-0", f"{name}-1"] and not refused.startswith(name)
            later = [t for p in second for t in fake.shown(p["id"]) if t.startswith(p["first_name"])]
            assert 0 < len(later) < 2 * PEOPLE  # the global cap refused the rest
            assert fake.shown(42) == ["rita-1"]
            asked_rita = [r for r in fake_openai.requests if r.body["messages"][-1]["content"] == "rita-1"]
            assert len(asked_rita) == 1

            charges: dict[str, int] = defaultdict(int)
            for row in await db.fetchall("SELECT user_id, cost FROM charges"):
                charges[str(row["user_id"])] += int(row["cost"])
            assert len(await db.fetchall("SELECT id FROM charges WHERE user_id = 'telegram:42'")) == 1
            for user, charged in charges.items():
                cap = ALICE_CAP if user == "telegram:41" else DEFAULT_CAP
                assert 0 < charged <= usd_to_nanos(cap), user
            assert sum(charges.values()) <= usd_to_nanos(GLOBAL_CAP)
            assert await db.fetchall("SELECT id FROM holds") == []
            await check_invariants(ledger)
        finally:
            await db.close()
