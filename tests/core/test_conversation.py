from pathlib import Path

import pytest

from bot.conversation import (
    Conversations,
    build_prompt,
    estimate_tokens,
    input_token_bound,
    with_less_history,
)
from bot.providers.base import ChatMessage
from bot.storage import migrate, open_database
from bot.storage.migrations import MIGRATIONS


def exchange(i: int) -> list[ChatMessage]:
    return [
        ChatMessage("user", f"question {i} " + "q" * 300),
        ChatMessage("assistant", f"answer {i} " + "a" * 300),
    ]


def test_the_input_bound_counts_utf8_bytes_plus_overhead() -> None:
    messages = [ChatMessage("user", "héllo"), ChatMessage("assistant", "日本")]
    assert input_token_bound(messages) == (6 + 8) + (6 + 8)


def test_oldest_history_goes_first_and_system_and_question_stay() -> None:
    history = [m for i in range(10) for m in exchange(i)]
    question = ChatMessage("user", "the new one")
    budget = estimate_tokens([ChatMessage("system", "sys"), question, *history[-4:]])
    prompt = build_prompt("sys", history, question, budget)
    assert prompt[0] == ChatMessage("system", "sys")
    assert prompt[-1] == question
    assert list(prompt[1:-1]) == history[-4:]  # the two newest exchanges, in order


def test_history_never_starts_with_an_orphaned_answer() -> None:
    history = [m for i in range(3) for m in exchange(i)]
    question = ChatMessage("user", "q")
    # room for three messages of history: the oldest of them would be an answer, so it is dropped too
    budget = estimate_tokens([ChatMessage("system", "s"), question, *history[-3:]])
    prompt = build_prompt("s", history, question, budget)
    assert prompt[1].role == "user"
    assert list(prompt[1:-1]) == history[-2:]


def test_less_history_drops_whole_exchanges_oldest_first_down_to_none() -> None:
    history = [m for i in range(3) for m in exchange(i)]
    question = ChatMessage("user", "q")
    system = ChatMessage("system", "s")
    shorter = with_less_history((system, *history, question))
    assert shorter == [(system, *history[2:], question), (system, *history[4:], question), (system, question)]
    assert with_less_history((*history[1:], question))[0] == (*history[2:], question)  # no system prompt
    assert with_less_history((system, question)) == [] and with_less_history((question,)) == []


def test_a_huge_question_is_kept_even_over_budget() -> None:
    question = ChatMessage("user", "x" * 100_000)
    prompt = build_prompt("s", [ChatMessage("user", "old")], question, 10)
    assert prompt == (ChatMessage("system", "s"), question)


async def test_history_written_before_the_conversation_rename_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 4 renames `messages.thread` to `conversation`: an upgraded database keeps every message."""
    url = f"sqlite:///{tmp_path}/old.db"
    with monkeypatch.context() as old:
        old.setattr("bot.storage.migrations.MIGRATIONS", MIGRATIONS[:3])
        db = await open_database(url)
        await db.execute(
            "INSERT INTO messages (thread, role, content, created_at) VALUES (?, ?, ?, ?)",
            "t:1",
            "user",
            "hi",
            0,
        )
        await db.close()
    db = await open_database(url)
    try:
        assert await migrate(db) == len(MIGRATIONS) == 11
        chats = Conversations(db)
        assert await chats.history("t:1") == [ChatMessage("user", "hi")]
        assert await chats.clear("t:1") == 1
    finally:
        await db.close()
