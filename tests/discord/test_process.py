"""`python -m bot discord` as an owner starts it: a separate process aimed at the fake Discord gateway and
HTTP API by DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL, and at the fake model server by OPENAI_BASE_URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.discord_api import GUILD_ID, TOKEN, FakeDiscord
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.processes import bot_process, process_environment


async def test_python_m_bot_discord_answers_ask_model_and_spend(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = Script(text="An answer from the fake model.")
    async with FakeDiscord() as fake:
        env = process_environment(
            DISCORD_BOT_TOKEN=TOKEN,
            DISCORD_GUILD_IDS=str(GUILD_ID),
            DISCORD_API_BASE_URL=fake.api_base,
            DISCORD_GATEWAY_URL=fake.gateway_url,
            OPENAI_API_KEY="sk-process-test-key",
            OPENAI_BASE_URL=fake_openai.url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'capbot.db'}",
        )
        async with bot_process("discord", tmp_path, env, never_logged=("sk-process-test-key",)):
            async with asyncio.timeout(30):
                await fake.connected()
            alice = fake.user(41, "alice")
            asked = fake.slash(alice, "ask", {"prompt": "hello?"})
            await fake.dispatch("INTERACTION_CREATE", asked)
            await fake.wait_for(
                lambda: any("fake model" in t for t in fake.shown(asked["token"])), "the streamed answer"
            )
            chosen = fake.slash(alice, "model", {"model": "openai/gpt-4o"})
            await fake.dispatch("INTERACTION_CREATE", chosen)
            await fake.wait_for(lambda: any("gpt-4o" in t for t in fake.shown(chosen["token"])), "/model")
            spend = fake.slash(alice, "spend")
            await fake.dispatch("INTERACTION_CREATE", spend)
            await fake.wait_for(lambda: any("Spent $" in t for t in fake.shown(spend["token"])), "/spend")
    assert fake_openai.requests[0].body["model"] == "gpt-4o-mini"
