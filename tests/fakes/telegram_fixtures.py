"""Fixtures for Telegram tests: the fake Bot API, settings aimed at it, a running bot, a scripted core.

Registered for every test module in tests/conftest.py's `pytest_plugins`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram_bot import ChatCore, Running, build_application, running
from adapters.telegram_bot.outgoing import UNBOUNDED, OutgoingScheduler
from bot.commands import BY_NAME
from bot.config import Settings
from bot.i18n import Language, from_client
from bot.incoming import CommandInfo, Incoming, ModelChoice, Reply
from tests.doubles import CoreScript, FirstClaims
from tests.fakes.telegram_api import TOKEN, FakeTelegram

# capbot's commands as the core declares them, in a menu order of the test's choosing
COMMANDS = [BY_NAME[name].info() for name in ("start", "help", "ask", "model", "spend", "new")]


class ScriptedCore(FirstClaims):
    """A stand-in for `bot.core.Core`: answers with a test's script and lists capbot's commands."""

    def __init__(self, script: CoreScript) -> None:
        super().__init__()
        self.script = script

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        await self.script(incoming, reply)

    def command_list(self, *, owner: bool = False) -> list[CommandInfo]:
        return COMMANDS + (
            [BY_NAME["cap"].info(), CommandInfo("Bad-Name", "not a Telegram name", owner_only=True)]
            if owner
            else []
        )

    def model_choices(self, query: str) -> list[ModelChoice]:
        return []

    def client_language(self, code: str | None) -> Language:
        return from_client(code) or "en"


def no_throttling() -> OutgoingScheduler:
    """The production scheduler with no budget of its own (tests send many edits at once): only what the
    fake answers (a 429) limits it, and a refused call reaches the caller at once."""
    return OutgoingScheduler(UNBOUNDED, max_retries=0)


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
