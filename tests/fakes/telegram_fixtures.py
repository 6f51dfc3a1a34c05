"""Fixtures for Telegram tests: the fake Bot API, settings aimed at it, a running bot, cores that report.

Registered for every test module in tests/conftest.py's `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter

from adapters.telegram_bot import ChatCore, Running, build_application, running
from bot.config import Settings
from bot.incoming import Incoming, Reply
from tests.fakes.telegram_api import TOKEN, FakeTelegram

Script = Callable[[Incoming, Reply], Awaitable[None]]


class TrackingCore:
    """Wraps a core (real or scripted); a test can wait until N messages were handled, or started."""

    def __init__(self, inner: ChatCore) -> None:
        self.inner = inner
        self.started: list[Incoming] = []
        self.handled: list[Incoming] = []
        self._changed = asyncio.Condition()

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        await self._record(self.started, incoming)
        try:
            await self.inner.handle(incoming, reply)
        finally:
            await self._record(self.handled, incoming)

    async def _record(self, where: list[Incoming], incoming: Incoming) -> None:
        async with self._changed:
            where.append(incoming)
            self._changed.notify_all()

    def command_list(self, *, owner: bool = False) -> list[tuple[str, str]]:
        return self.inner.command_list(owner=owner)

    async def wait_handled(self, count: int, limit: float = 15) -> list[Incoming]:
        await self._wait(lambda: len(self.handled) >= count, f"{count} handled messages", limit)
        return self.handled

    async def wait_started(self, count: int, limit: float = 15) -> list[Incoming]:
        await self._wait(lambda: len(self.started) >= count, f"{count} started messages", limit)
        return self.started

    async def _wait(self, predicate: Callable[[], bool], what: str, limit: float) -> None:
        try:
            async with asyncio.timeout(limit), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(
                f"waiting for {what}: started {len(self.started)}, handled {len(self.handled)}"
            ) from None


COMMANDS = [
    ("start", "Introduction"),
    ("help", "This list"),
    ("ask", "Ask the model a question"),
    ("model", "Show or choose the model"),
    ("spend", "What you have spent and what is left"),
    ("new", "Start a fresh conversation"),
]


class ScriptedCore:
    """A stand-in for `bot.core.Core`: answers with a test's script and lists capbot's commands."""

    def __init__(self, script: Script) -> None:
        self.script = script

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        await self.script(incoming, reply)

    def command_list(self, *, owner: bool = False) -> list[tuple[str, str]]:
        return COMMANDS + (
            [("cap", "Set a person's cap"), ("Bad-Name", "not a Telegram name")] if owner else []
        )


def no_throttling() -> AIORateLimiter:
    """PTB's limiter without the proactive 20-a-minute group limit (tests send many edits at once)."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def telegram_settings(fake_telegram: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(
        telegram_bot_token=TOKEN,
        telegram_base_url=fake_telegram.base_url,
        database_url=f"sqlite:///{tmp_path / 'capbot.db'}",
    )


@contextlib.asynccontextmanager
async def running_bot(
    core: ChatCore, settings: Settings, *, edit_interval: float = 0, **options: Any
) -> AsyncIterator[Running]:
    """The real Application against the fake, polling (or on a webhook at a free port) for the block."""
    application = build_application(
        core, settings, edit_interval=edit_interval, rate_limiter=options.pop("rate_limiter", no_throttling())
    )
    async with running(core, settings, application=application, host="127.0.0.1", port=0, **options) as bot:
        yield bot
