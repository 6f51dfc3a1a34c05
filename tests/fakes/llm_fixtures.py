"""pytest fixtures for the fake model servers (registered in tests/conftest.py's `pytest_plugins`).

`fake_openai`, `fake_anthropic`, `fake_gemini`: one server each; `fakes`: all three at once; `sleeps`:
records the retry backoffs instead of sleeping them (for cores opened after it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.providers import registry
from bot.providers.retry import RetryingProvider
from tests.fakes.llm_anthropic import FakeAnthropic
from tests.fakes.llm_gemini import FakeGemini
from tests.fakes.llm_openai import FakeOpenAI


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
async def fake_gemini() -> AsyncIterator[FakeGemini]:
    async with FakeGemini() as fake:
        yield fake


Fakes = tuple[FakeOpenAI, FakeAnthropic, FakeGemini]


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    """One fake server per wire format: (OpenAI-compatible, Anthropic, Gemini)."""
    async with (
        FakeOpenAI() as openai,
        FakeAnthropic() as anthropic,
        FakeGemini() as gemini,
    ):
        yield openai, anthropic, gemini


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every backoff the retrying providers wait, recorded instead of slept (cores opened after this)."""
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    def retrying(client: Any, **kw: Any) -> RetryingProvider:
        return RetryingProvider(client, **{**kw, "sleep": sleep})

    monkeypatch.setattr(registry, "RetryingProvider", retrying)
    return waited
