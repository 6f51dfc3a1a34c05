"""Telegram end to end: many people asking at once through the real adapter, polling a fake Bot API.

`bench.throughput` measures the core alone; this adds what a Telegram deployment adds on top: the real
python-telegram-bot Application from `adapters.telegram_bot` (long polling, `PerPersonOrder`, typing
indicator, Markdown to entities, the streaming loop's send-then-edit), talking HTTP to the fake Bot API of
tests/fakes/telegram_api.py, with the real core, a SQLite ledger and the local demo model server (no
word delay) reached through the ordinary provider path.

N different people each send one private-chat question; all N updates are pushed at once. The clock runs
from the push until the core has finished every answer (final text delivered, charge settled). The
adapter's default edit interval (TELEGRAM_EDIT_INTERVAL, 1 s) is used. Each person's chat must then show
exactly one message holding the whole answer the conversation recorded, and their ledger must show a
charge with nothing held: anything else fails the run.

It runs twice, because one factor dominates:

(a) with `AIORateLimiter` as in production: it holds the bot to Telegram's 30 messages a second overall,
    and each answer costs at least three calls (typing action, first message, final edit; more typing
    actions while it waits its turn), so this is about ten answers a second whatever the bot does.
    This is what a real deployment sees; the limit is Telegram's, not capbot's.
(b) without throttling (the tests' limiter, with both rates off): the bot's own overhead.

    python -m bench.telegram_throughput [--users 256]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

from telegram.ext import BaseRateLimiter

from adapters.streaming import CURSOR
from adapters.telegram_bot.reply import render
from bench._support import bench_core
from bot.core import Core
from tests.doubles import TrackingCore
from tests.fakes import telegram_api as tg
from tests.fakes.telegram_fixtures import no_throttling, running_bot

FIRST_ID = 700_000  # Telegram user ids of the benchmark's people (a private chat's id is the user's)
LIMIT = 600.0  # seconds; a run that takes longer has stalled


class TimedTelegram(tg.FakeTelegram):
    """The fake Bot API, also noting when each chat received its first message from the bot."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.first_sent: dict[int, float] = {}

    def _send(self, p: dict[str, Any]) -> dict[str, Any]:
        made = super()._send(p)
        self.first_sent.setdefault(int(p["chat_id"]), time.perf_counter())
        return made


async def verify(fake: TimedTelegram, core: Core, people: list[int]) -> None:
    """Every person: one message with the whole recorded answer, a charge, nothing held. Else fail."""
    problems: list[str] = []
    for person in people:
        shown = fake.shown(person)
        history = await core.services.conversations.history(f"telegram:{person}:{person}")
        summary = await core.services.ledger.summary(f"telegram:{person}")
        if len(history) != 2 or history[-1].role != "assistant":
            problems.append(f"{person}: conversation holds {len(history)} messages")
        elif shown != [render(history[-1].content)[0]] or CURSOR in shown[0]:
            problems.append(f"{person}: chat shows {shown!r}")
        elif f'You asked: "question {person}"' not in shown[0]:
            problems.append(f"{person}: answered someone else's question: {shown[0]!r}")
        if summary.spent <= 0 or summary.held != 0:
            problems.append(f"{person}: spent {summary.spent}, held {summary.held}")
    if problems:
        raise SystemExit(f"FAILED: {len(problems)} problems, first ones:\n  " + "\n  ".join(problems[:10]))


async def measure(users: int, label: str, rate_limiter: BaseRateLimiter[Any] | None) -> None:
    """One run: a fresh fake, database and demo server; `rate_limiter=None` is production's limiter."""
    async with (
        TimedTelegram() as fake,
        bench_core(
            cap_usd="100",
            fill_to_limit=False,
            word_delay=0,
            telegram_bot_token=tg.TOKEN,
            telegram_base_url=fake.base_url,
        ) as real,
    ):
        settings = real.services.settings
        core = TrackingCore(real)
        interval = settings.telegram_edit_interval
        async with running_bot(core, settings, edit_interval=interval, rate_limiter=rate_limiter):
            warmup = tg.user(FIRST_ID - 1, "Warm")
            await fake.push(tg.private_text(warmup, "warm up"))
            await core.wait_handled(1, LIMIT)
            people = [FIRST_ID + n for n in range(users)]
            updates = [tg.private_text(tg.user(p, f"Person {p}"), f"question {p}") for p in people]
            calls_before = len(fake.calls)
            started = time.perf_counter()
            await fake.push(*updates)
            await core.wait_handled(1 + users, LIMIT)
            elapsed = time.perf_counter() - started
            calls = len(fake.calls) - calls_before  # includes the few getUpdates polls
        await verify(fake, real, people)
    first = [fake.first_sent[p] - started for p in people]
    print(f"{label}: {users} people at once, all answered, charged, nothing held, in {elapsed:.2f}s")
    print(f"  streamed answers per second: {users / elapsed:.1f}")
    print(
        f"  first message per person: median {statistics.median(first) * 1000:.0f} ms, "
        f"max {max(first) * 1000:.0f} ms"
    )
    print(f"  Bot API calls: {calls} ({calls / elapsed:.0f} a second); edit interval {interval:g} s")


async def main(users: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    await measure(users, "(a) AIORateLimiter as in production (30 messages/s)", None)
    await measure(users, "(b) no throttling (capbot's own overhead)", no_throttling())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=256)
    asyncio.run(main(parser.parse_args().users))
