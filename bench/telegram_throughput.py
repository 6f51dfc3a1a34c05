"""Telegram end to end: 300 questions from 256 people at once through the real adapter, at Telegram's limits.

`bench.throughput` measures the core alone; this adds what a Telegram deployment adds on top: the real
python-telegram-bot Application from `adapters.telegram_bot` (long polling, `PerPersonOrder`, the token's
outgoing scheduler, the aiohttp transport, typing, Markdown to entities, the streaming loop), with the real
core and a SQLite ledger. The fake Bot API (tests/fakes/telegram_limits.py) and the demo model (100 ms to
its first token, then a 200-token answer at once) each run in a child process of their own, so this
process's CPU time is the bot's alone, and the fake's clock is not held up by the model's streams.

256 people send 300 private questions at once (44 of them ask twice). The clock runs from the push until
the core has finished every answer (final text delivered, charge settled). Afterwards every chat must show
each recorded answer as it was formatted, and every ledger a charge with nothing held.

(a) Against the limit-enforcing fake (30 writes a second overall, 1 a second per private chat after a
    burst of 3; beyond them 429 with `retry_after`), with production's scheduler: answers a second,
    writes per answer (drafts counted when the bot sends them), and the share of writes answered 429.
(b) Against the same fake with no limits, the bot (scheduler with unbounded budgets) next to a floor bot:
    bare aiohttp doing the same round trips per question (getUpdates, typing, the model's stream, send,
    final edit), no database. CPU per answer is this process's user+system time over the burst.

    python -m bench.telegram_throughput [--users 256] [--questions 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import resource
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from telegram.ext import BaseRateLimiter

from adapters.streaming import CURSOR
from adapters.telegram_bot.outgoing import UNBOUNDED, OutgoingScheduler
from adapters.telegram_bot.reply import render
from bench._support import bench_core
from bot.core import Core
from bot.providers.demo import demo_server
from tests.doubles import TrackingCore
from tests.fakes import telegram_api as tg
from tests.fakes.telegram_fixtures import running_bot
from tests.fakes.telegram_limits import FloodLimits, LimitedTelegram

FIRST_ID = 700_000  # Telegram user ids of the benchmark's people (a private chat's id is the user's)
LATENCY = 0.1  # the model's time to first token
ANSWER_TOKENS = 200
STALLED = 600.0  # seconds; a run that takes longer has stalled


# ---------------------------------------------------------------- the child: fake Bot API and model


class ServedTelegram(LimitedTelegram):
    """The limit-enforcing fake, with two routes for the parent: push updates, read what happened."""

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_post("/control/push", self._on_push)
        app.router.add_get("/control/report", self._on_report)
        return app

    async def _on_push(self, request: web.Request) -> web.Response:
        await self.push(*await request.json())
        return web.json_response(True)

    async def _on_report(self, request: web.Request) -> web.Response:
        shown: dict[int, list[str]] = {}
        for (chat, _), made in sorted(self.messages.items()):
            shown.setdefault(chat, []).append(made["text"])
        return web.json_response({"writes": self.writes, "refused": self.refused, "shown": shown})


async def serve(kind: str) -> None:
    """Child process: serve the fake Bot API (limited or not) or the model; print where; stop at stdin's end.

    Each in its own process, so that streaming the model's answers never delays the fake's answers (a
    real Bot API's clock does not wait for the bot's provider)."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "model":
            model = await stack.enter_async_context(
                demo_server(fill_to_limit=True, word_delay=0, latency=LATENCY)
            )
            where = {"model": model}
        else:
            limits = FloodLimits() if kind == "limited" else None
            fake = await stack.enter_async_context(ServedTelegram(limits=limits))
            where = {"root": fake.root, "telegram": fake.base_url}
        print(json.dumps(where), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


@dataclass
class Remote:
    root: str
    telegram: str
    model: str
    session: aiohttp.ClientSession

    async def push(self, updates: list[dict[str, Any]]) -> None:
        async with self.session.post(f"{self.root}/control/push", json=updates) as response:
            response.raise_for_status()

    async def report(self) -> dict[str, Any]:
        async with self.session.get(f"{self.root}/control/report") as response:
            found: dict[str, Any] = await response.json()
            return found


@contextlib.asynccontextmanager
async def child(kind: str) -> AsyncIterator[dict[str, str]]:
    """A `serve(kind)` process for the block; yields the addresses it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.telegram_throughput",
        "--serve",
        kind,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        yield json.loads(await process.stdout.readline())
    finally:
        process.stdin.close()
        await process.wait()


@contextlib.asynccontextmanager
async def elsewhere(limited: bool) -> AsyncIterator[Remote]:
    async with (
        child("limited" if limited else "unlimited") as telegram,
        child("model") as model,
        aiohttp.ClientSession() as session,
    ):
        yield Remote(telegram["root"], telegram["telegram"], model["model"], session)


# ---------------------------------------------------------------- the parent: the bot, then the floor


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def questions(users: int, count: int, first: int = FIRST_ID) -> list[tuple[int, str]]:
    """(person, text) for `count` questions from `users` people; the first ones ask again past `users`."""
    return [(first + n % users, f"question {n}") for n in range(count)]


@dataclass
class Outcome:
    label: str
    answers: int
    elapsed: float
    cpu: float
    writes: Counter[str]
    refused: Counter[str]
    complete: int = 0

    def row(self) -> str:
        writes = sum(self.writes.values())
        refused = sum(self.refused.values())
        drafts = self.writes.get("sendMessageDraft", 0)
        return (
            f"{self.label}: {self.complete}/{self.answers} final texts complete in {self.elapsed:.1f} s; "
            f"{self.answers / self.elapsed:.1f} answers/s; {writes / self.answers:.2f} writes per answer "
            f"({dict(self.writes)}; drafts {drafts}); 429s {refused} {dict(self.refused)} "
            f"({100 * refused / max(1, writes + refused):.2f}% of writes); "
            f"CPU {1000 * self.cpu / self.answers:.1f} ms per answer"
        )


async def complete_answers(report: dict[str, Any], core: Core, asked: list[tuple[int, str]]) -> int:
    """How many recorded answers their chat shows in full; fails the run on a missing charge or answer."""
    problems: list[str] = []
    complete = 0
    per_person = Counter(person for person, _ in asked)
    for person, count in per_person.items():
        history = await core.services.conversations.history(f"telegram:{person}:{person}")
        answers = [m.content for m in history if m.role == "assistant"]
        shown = report["shown"].get(str(person), [])
        if len(answers) != count:
            problems.append(f"{person}: {len(answers)} answers recorded for {count} questions")
        for answer in answers:
            if render(answer)[0] in shown:
                complete += 1
        if any(CURSOR in text for text in shown):
            problems.append(f"{person}: a message still shows the cursor")
        summary = await core.services.ledger.summary(f"telegram:{person}")
        if summary.spent <= 0 or summary.held != 0:
            problems.append(f"{person}: spent {summary.spent}, held {summary.held}")
    if problems:
        raise SystemExit(f"FAILED: {len(problems)} problems, first ones:\n  " + "\n  ".join(problems[:10]))
    return complete


def delta(after: dict[str, int], before: dict[str, int]) -> Counter[str]:
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)})


async def run_bot(
    remote: Remote, label: str, limiter: BaseRateLimiter[Any] | None, asked: list[tuple[int, str]]
) -> Outcome:
    async with bench_core(
        cap_usd="100",
        fill_to_limit=True,
        word_delay=0,
        model_url=remote.model,
        max_output_tokens=ANSWER_TOKENS,
        telegram_bot_token=tg.TOKEN,
        telegram_base_url=remote.telegram,
    ) as real:
        settings = real.services.settings
        core = TrackingCore(real)
        async with running_bot(
            core, settings, edit_interval=settings.telegram_edit_interval, rate_limiter=limiter
        ):
            await remote.push([tg.private_text(tg.user(FIRST_ID - 1, "Warm"), "warm up")])
            await core.wait_handled(1, STALLED)
            updates = [tg.private_text(tg.user(p, f"Person {p}"), text) for p, text in asked]
            before = await remote.report()
            cpu, started = cpu_seconds(), time.perf_counter()
            await remote.push(updates)
            await core.wait_handled(1 + len(asked), STALLED)
            elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        report = await remote.report()
        outcome = Outcome(
            label,
            len(asked),
            elapsed,
            cpu,
            delta(report["writes"], before["writes"]),
            delta(report["refused"], before["refused"]),
        )
        outcome.complete = await complete_answers(report, real, asked)
    return outcome


async def run_floor(remote: Remote, asked: list[tuple[int, str]]) -> Outcome:
    """A bare aiohttp bot: the same round trips per question as capbot's, and nothing else."""
    api = f"{remote.telegram}{tg.TOKEN}/"
    async with aiohttp.ClientSession() as session:

        async def call(method: str, **params: Any) -> Any:
            form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
            async with session.post(api + method, data=form) as response:
                return (await response.json())["result"]

        async def answer(update: dict[str, Any]) -> None:
            chat = update["message"]["chat"]["id"]
            await call("sendChatAction", chat_id=chat, action="typing")
            request = {
                "model": "capbot-demo",
                "stream": True,
                "max_tokens": ANSWER_TOKENS,
                "messages": [{"role": "user", "content": update["message"]["text"]}],
            }
            text, sent = "", None
            async with session.post(f"{remote.model}/chat/completions", json=request) as response:
                async for line in response.content:
                    if not line.startswith(b"data: {"):
                        continue
                    for choice in json.loads(line[6:])["choices"]:
                        text += choice["delta"].get("content") or ""
                    if sent is None and text.strip():
                        sent = asyncio.ensure_future(call("sendMessage", chat_id=chat, text=text + CURSOR))
            assert sent is not None
            made = await sent
            await call("editMessageText", chat_id=chat, message_id=made["message_id"], text=text)

        updates = [tg.private_text(tg.user(p, f"Person {p}"), text) for p, text in asked]
        before = await remote.report()
        cpu, started = cpu_seconds(), time.perf_counter()
        await remote.push(updates)
        offset, answering = 0, list[asyncio.Task[None]]()
        while len(answering) < len(updates):
            for update in await call("getUpdates", offset=offset, timeout=10):
                offset = update["update_id"] + 1
                answering.append(asyncio.create_task(answer(update)))
        await asyncio.gather(*answering)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        await call("getUpdates", offset=offset, timeout=0)
        report = await remote.report()
    outcome = Outcome(
        "floor (bare aiohttp, same round trips)",
        len(asked),
        elapsed,
        cpu,
        delta(report["writes"], before["writes"]),
        delta(report["refused"], before["refused"]),
    )
    people = {str(p) for p, _ in asked}
    outcome.complete = sum(
        CURSOR not in text for chat, texts in report["shown"].items() if chat in people for text in texts
    )
    return outcome


async def main(users: int, count: int, part: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    asked = questions(users, count)
    print(f"{users} people, {count} questions at once; model {LATENCY * 1000:.0f} ms, {ANSWER_TOKENS} tokens")
    if part in ("all", "limits"):
        async with elsewhere(limited=True) as remote:
            limited = await run_bot(remote, "(a) at Telegram's limits, production scheduler", None, asked)
        print(limited.row(), flush=True)
    if part == "limits":
        return
    async with elsewhere(limited=False) as remote:
        unlimited = await run_bot(remote, "(b) no limits, capbot", OutgoingScheduler(UNBOUNDED), asked)
        print(unlimited.row(), flush=True)
        floor = await run_floor(remote, questions(users, count, first=FIRST_ID + 100_000))
        print(floor.row(), flush=True)
    print(f"CPU per answer, capbot / floor: {unlimited.cpu / floor.cpu:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--part", choices=["all", "limits", "cpu"], default="all")
    parser.add_argument("--serve", choices=["limited", "unlimited", "model"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        asyncio.run(serve(options.serve))
    else:
        asyncio.run(main(options.users, options.questions, options.part))
