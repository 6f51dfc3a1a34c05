"""Owner controls on the real /ask path, against the fake OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness import charge, check_invariants, harness, meet, snapshot

BOB = "telegram:2"


async def test_a_cap_lowered_below_spend_refuses_the_next_ask_with_one_line(
    fake_openai: Any, tmp_path: Path
) -> None:
    async with harness(
        tmp_path,
        openai_api_key="sk-test-key",
        openai_base_url=fake_openai.url,
        default_model="openai/gpt-4o-mini",
    ) as h:
        await meet(h.ledger, BOB, "bob")
        first = await h.say("/ask hello", user=BOB)
        assert first.answers, first.lines
        spent = (await h.ledger.summary(BOB)).spent
        assert spent > 0
        assert "New answers are refused" in (await h.say("/cap @bob 0")).last
        before = await snapshot(h.db)
        second = await h.say("/ask hello again", user=BOB)
        assert second.answers == []
        assert second.lines == [
            "Your allowance can't pay for an answer: $0.00 left. It resets Dec 1, 2026 00:00 UTC (in 8 days)."
        ]
        assert await snapshot(h.db) == before
        await h.say("/cap @bob default")
        assert (await h.say("/ask and now?", user=BOB)).answers
        await check_invariants(h.ledger)


async def test_a_blocked_person_is_refused_before_any_provider_call(fake_openai: Any, tmp_path: Path) -> None:
    async with harness(tmp_path, openai_api_key="sk-test-key", openai_base_url=fake_openai.url) as h:
        await meet(h.ledger, BOB, "bob")
        await charge(h.ledger, BOB, 1)
        await h.say("/block @bob")
        before = await snapshot(h.db)
        reply = await h.say("/ask hi", user=BOB)
        assert reply.lines == ["You are blocked from using this bot."] and reply.answers == []
        assert await snapshot(h.db) == before
