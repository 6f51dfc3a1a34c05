"""Fixtures for Discord tests: the fake Discord, settings aimed at it, a running bot, a scripted core.

Registered for every test module in tests/conftest.py's `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord_bot import CapbotClient, ChatCore, build_client
from bot.commands import BY_NAME
from bot.config import Settings
from bot.i18n import Language, from_client
from bot.incoming import CommandInfo, Incoming, ModelChoice, Reply
from tests.doubles import CoreScript, FirstClaims
from tests.fakes.discord_api import GUILD_ID, TOKEN, FakeDiscord

PRICED_MODELS = [
    (f"prov{i // 10}/model-{i:02d}", f"${i / 10:.2f}/${i / 5:.2f} per 1M tokens") for i in range(40)
]


class ScriptedCore(FirstClaims):
    """A stand-in for `bot.core.Core`: answers with a test's script, offers 40 priced models."""

    def __init__(self, script: CoreScript) -> None:
        super().__init__()
        self.script = script

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        await self.script(incoming, reply)

    def client_language(self, code: str | None) -> Language:
        return from_client(code) or "en"

    def model_choices(self, query: str) -> list[ModelChoice]:
        found = [ModelChoice(f"{m} — {price}", m) for m, price in PRICED_MODELS if query.lower() in m]
        return found  # deliberately uncapped: the adapter must cap at 25

    def command_list(self, *, owner: bool = False) -> list[CommandInfo]:
        """Some of capbot's commands, as the core declares them."""
        names = [*LISTED, *(["cap"] if owner else [])]
        return [BY_NAME[name].info() for name in names]


LISTED = ("ask", "model", "spend", "start", "help", "new")


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


def restore_discord_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py's process-wide API and gateway URLs, which a client aimed at the fake rewrites, are put
    back after the test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)


@pytest.fixture
def discord_settings(fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings aimed at the fake; discord.py's process-wide URLs are restored after the test."""
    restore_discord_urls(monkeypatch)
    return Settings(
        discord_bot_token=TOKEN,
        discord_guild_ids=(str(GUILD_ID),),
        discord_api_base_url=fake_discord.api_base,
        discord_gateway_url=fake_discord.gateway_url,
        database_url=f"sqlite:///{tmp_path / 'capbot.db'}",
    )


@contextlib.asynccontextmanager
async def running_bot(
    core: ChatCore, settings: Settings, fake: FakeDiscord, **options: Any
) -> AsyncIterator[CapbotClient]:
    """Start the real discord.py client against the fake; close it on exit."""
    client = build_client(core, settings, **options)
    token = settings.discord_bot_token.get_secret_value() if settings.discord_bot_token else ""
    task = asyncio.create_task(client.start(token))
    try:
        connected = asyncio.create_task(fake.connected())
        await asyncio.wait([task, connected], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            connected.cancel()
            task.result()  # raise what stopped the client
        await connected
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task
