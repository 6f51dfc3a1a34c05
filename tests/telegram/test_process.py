"""`python -m bot telegram` as an owner starts it: a separate process aimed at the fake Bot API by
TELEGRAM_BASE_URL and at the fake model server by OPENAI_BASE_URL."""

from __future__ import annotations

from pathlib import Path

from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.processes import bot_process, process_environment


async def test_python_m_bot_telegram_answers_ask_model_and_spend(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = Script(text="An answer from the fake model.")
    alice = tg.user(41, "Alice", "alice")
    async with FakeTelegram() as fake:
        env = process_environment(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-process-test-key",
            OPENAI_BASE_URL=fake_openai.url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'capbot.db'}",
        )
        async with bot_process("telegram", tmp_path, env, never_logged=("sk-process-test-key", TOKEN)):
            await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")), "polling", limit=30)
            await fake.push(tg.private_text(alice, "/ask hello?"))
            await fake.wait_for(lambda: any("fake model" in t for t in fake.shown(41)), "the streamed answer")
            await fake.push(tg.private_text(alice, "/model openai/gpt-4o"))
            await fake.wait_for(
                lambda: any(t.startswith("Model set to openai/gpt-4o") for t in fake.shown(41)), "/model"
            )
            await fake.push(tg.private_text(alice, "/spend"))
            await fake.wait_for(lambda: any(t.startswith("Spent $") for t in fake.shown(41)), "/spend")
    assert fake_openai.requests[0].body["model"] == "gpt-4o-mini"
