"""Caps and blocks for people who have not written yet: any well-formed `platform:id` can be set up from
chat, the CLI or the API, and that person's very first question obeys the setting."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.__main__ import main
from bot.web import web_app
from tests.harness import DOLLAR, check_invariants, harness

TOKEN = "test-admin-token-0123456789"
NEWCOMER = "telegram:77"
CAP_REFUSAL = "Your allowance can't pay for an answer: $0.00 left."


def _model(fake_openai: Any) -> dict[str, Any]:
    return {"openai_api_key": "sk-test-key", "openai_base_url": fake_openai.url}


async def test_chat_caps_and_blocks_someone_before_they_ever_write(fake_openai: Any, tmp_path: Path) -> None:
    async with harness(tmp_path, **_model(fake_openai)) as h:
        capped = await h.say(f"/cap {NEWCOMER} 0 daily")
        assert capped.last.startswith(f"Cap set. {NEWCOMER}: $0.00 today of $0.00 per day, $0.00 left")
        blocked = await h.say("/block discord:88")
        assert blocked.last.startswith("Blocked discord:88.")
        assert "[blocked]" in blocked.last

        first = await h.say("/ask hello", user=NEWCOMER)
        assert first.answers == [] and first.lines[0].startswith(CAP_REFUSAL)
        refused = await h.say("/ask hello", user="discord:88")
        assert refused.lines == ["You are blocked from using this bot."]
        assert fake_openai.requests == []  # neither reached the model
        unblocked = await h.say("/unblock discord:88")
        assert unblocked.last.startswith("Unblocked discord:88.")
        assert (await h.say("/ask hello", user="discord:88")).answers
        await check_invariants(h.ledger)


async def test_usage_of_someone_who_never_wrote_is_empty(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert (await h.say("/usage telegram:404")).last == "telegram:404, this month: no usage."


def test_the_cli_caps_a_newcomer(
    fake_openai: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/capbot.db")
    assert main(["users", "cap", NEWCOMER, "0.000001"]) == 0
    assert capsys.readouterr().out.startswith(f"{NEWCOMER}: $0.000000 this month of $0.000001 per month")
    assert main(["users", "show", "discord:5"]) == 0  # shown with the defaults, nothing written
    assert capsys.readouterr().out.startswith("discord:5: $0.00 this month of $1.00 per month, $1.00 left")

    async def first_question() -> None:
        async with harness(tmp_path, **_model(fake_openai)) as h:
            assert (await h.ledger.profile(NEWCOMER)).cap == 1_000
            reply = await h.say("/ask hi", user=NEWCOMER)
            assert reply.answers == [] and reply.lines[0].startswith("Your allowance can't pay for an answer")

    asyncio.run(first_question())
    assert fake_openai.requests == []


async def test_the_api_sets_a_newcomers_limit_and_their_first_question_obeys_it(
    fake_openai: Any, tmp_path: Path
) -> None:
    async with harness(tmp_path, admin_api_token=TOKEN, **_model(fake_openai)) as h:
        async with TestClient(TestServer(web_app(h.core, h.settings))) as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with client.put(
                f"/api/v1/users/{NEWCOMER}/limit", json={"limit": "0"}, headers=headers
            ) as response:
                assert response.status == 200
                body = await response.json()
            assert (body["user"], body["limit"], body["limit_remaining"]) == (NEWCOMER, "0", "0")
            async with client.post("/api/v1/users/discord:9/disable", headers=headers) as response:
                assert response.status == 200 and (await response.json())["disabled"] is True
        assert (await h.say("/ask hi", user=NEWCOMER)).lines[0].startswith(CAP_REFUSAL)
        assert (await h.say("/ask hi", user="discord:9")).lines == ["You are blocked from using this bot."]
        assert fake_openai.requests == []
        await h.say(f"/cap {NEWCOMER} 1")
        assert (await h.say("/ask hi", user=NEWCOMER)).answers
        assert (await h.ledger.summary(NEWCOMER)).cap == DOLLAR
