"""pytest fixtures for the fake model servers (import the names you use into a test module)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.llm_openai import FakeOpenAI, running_fake_openai


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with running_fake_openai() as fake:
        yield fake
