"""Helpers for the provider tests: keys, models, settings pointing every wire format at its fake."""

from __future__ import annotations

from typing import Any

from tests.fakes.llm_anthropic import FakeAnthropic
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_gemini import FakeGemini
from tests.fakes.llm_openai import FakeOpenAI
from tests.harness import Harness, check_invariants

BOB = "telegram:2"
KEYS = {
    "openai": "sk-proj-FaultKey0123456789abcdefXYZ",
    "anthropic": "sk-ant-api03-FaultKey0123456789abcdef",
    "google": "AIzaSyFaultKey0123456789abcdefghijkl",
    "azure": "0123456789abcdef0123456789abcdef",
}
MODELS = {
    "openai": "openai/gpt-4o-mini",
    "anthropic": "anthropic/claude-haiku-4-5",
    "google": "google/gemini-2.0-flash",
    "azure": "azure/gpt-4o-mini",
}


def env(fakes: Fakes, model: str = "openai/gpt-4o-mini", **more: Any) -> dict[str, Any]:
    """All four wire formats configured, `model` the default, no backoff delays."""
    openai, anthropic, gemini = fakes
    return {
        "openai_api_key": KEYS["openai"],
        "openai_base_url": openai.url,
        "anthropic_api_key": KEYS["anthropic"],
        "anthropic_base_url": anthropic.url,
        "gemini_api_key": KEYS["google"],
        "gemini_base_url": gemini.url,
        "azure_openai_api_key": KEYS["azure"],
        "azure_openai_endpoint": openai.url.removesuffix("/v1"),
        "default_model": model,
        "retry_base_delay": 0,
        **more,
    }


async def settled(h: Harness) -> list[dict[str, Any]]:
    """The ledger is consistent and no hold is open; returns the charges."""
    await check_invariants(h.ledger)
    row = await h.db.fetchone("SELECT COUNT(*) AS n FROM holds")
    assert row is not None and int(row["n"]) == 0
    return [dict(r) for r in await h.db.fetchall("SELECT * FROM charges ORDER BY id")]


def fake_for(fakes: Fakes, provider: str) -> FakeOpenAI | FakeAnthropic | FakeGemini:
    openai, anthropic, gemini = fakes
    found: dict[str, FakeOpenAI | FakeAnthropic | FakeGemini] = {
        "openai": openai,
        "azure": openai,
        "anthropic": anthropic,
        "google": gemini,
    }
    return found[provider]
