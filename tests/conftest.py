"""Shared fixtures. Tests never see the machine's real keys or settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from tests.postgres import postgres_url, scratch_schema

pytest_plugins = [
    "tests.fakes.llm_fixtures",
    "tests.fakes.telegram_fixtures",
    "tests.fakes.discord_fixtures",
]


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Drop every capbot variable from the environment and run away from any .env file."""
    import os

    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A DATABASE_URL for each database a test should hold on: a file in the test's folder, then a
    fresh PostgreSQL schema (skipped, saying why, without TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/capbot.db"
        return
    async with scratch_schema(postgres_url()) as url:
        yield url
