"""A deploy's SIGTERM in the middle of an answer, through `python -m bot telegram` in a process of its own:
the answer is cut after SHUTDOWN_GRACE_SECONDS, its shown text becomes final (no streaming cursor), it is
charged the bound of what it streamed, and the process exits 0 leaving no hold for the next start."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from bot.config import Settings
from tests.doubles import eventually
from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.processes import bot_process, process_environment

# gpt-4o-mini in nano-dollars per token: $0.15 and $0.60 per million
INPUT_NANOS, OUTPUT_NANOS = 150, 600
MAX_OUTPUT = 1024


def input_bound(*texts: str) -> int:
    """The input bound the bot prices, spelled out: UTF-8 bytes plus 8 tokens of framing per message."""
    return sum(len(text.encode("utf-8")) + 8 for text in texts)


async def test_sigterm_mid_answer_delivers_the_shown_text_and_charges_only_what_streamed(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    # three words, then the model goes silent: only a shutdown ends this answer
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)
    alice = tg.user(41, "Alice", "alice")
    database = tmp_path / "capbot.db"
    async with FakeTelegram() as fake:
        env = process_environment(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_BASE_URL=fake.base_url,
            TELEGRAM_EDIT_INTERVAL="0.05",
            OPENAI_API_KEY="sk-process-test-key",
            OPENAI_BASE_URL=fake_openai.url,
            DATABASE_URL=f"sqlite:///{database}",
            MAX_OUTPUT_TOKENS=str(MAX_OUTPUT),
            SHUTDOWN_GRACE_SECONDS="1",
        )
        async with bot_process("telegram", tmp_path, env, never_logged=("sk-process-test-key", TOKEN)) as bot:
            await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")), "polling", limit=30)
            await fake.push(tg.private_text(alice, "/ask count"))
            await fake.wait_for(lambda: any(t.startswith("one") for t in fake.drafted(41)), "text drafted")
            await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")
            assert fake.shown(41) == []  # still streaming, as a draft
            bot.send_signal(signal.SIGTERM)
            assert bot.stderr is not None
            log = (await bot.stderr.read()).decode()
            assert await bot.wait() == 0, log
    assert "Traceback" not in log
    assert "sk-process-test-key" not in log and TOKEN not in log
    assert fake.shown(41) == ["one two three"]  # final: the text shown, without the cursor
    with sqlite3.connect(database) as db:
        (holds,) = db.execute("SELECT COUNT(*) FROM holds").fetchone()
        (cost, estimated), *others = db.execute("SELECT cost, estimated FROM charges").fetchall()
    system_prompt = Settings.model_fields["system_prompt"].default
    prompt_bound = input_bound(system_prompt, "count") * INPUT_NANOS
    assert (holds, others, estimated) == (0, [], 1)  # nothing left for the next start to charge in full
    assert cost == prompt_bound + len(b"one two three ") * OUTPUT_NANOS  # the bound of what streamed
    assert cost < prompt_bound + MAX_OUTPUT * OUTPUT_NANOS  # far less than the hold
