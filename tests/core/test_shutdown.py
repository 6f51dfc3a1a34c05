"""`Core.drain`, what SIGTERM and Ctrl-C run before the platforms stop: new questions are turned away with
one line, answers in progress finish within the grace period, and those still running after it are cut,
delivered as far as they got without the streaming cursor and charged the bound of what they streamed.
(tests/telegram/test_shutdown.py does the same through a real `python -m bot telegram` and SIGTERM.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.streaming import CURSOR, StreamingAnswer
from bot.wording import RESTARTING
from tests.core.test_ask import BOB, estimated_charge, expected_cost, holds, openai_settings
from tests.doubles import RecordingReply, eventually, message
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import check_invariants, harness, spy_reserves


class ChatMessenger:
    """A chat as the streaming loop sees it: the messages it sent, as they show now."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.final_edit_fails = False
        self.drafts = False

    async def draft(self, text: str) -> None:
        raise AssertionError("no drafts here")

    async def send(self, text: str, *, final: bool = True) -> Any:
        self.messages.append(text)
        return len(self.messages) - 1

    async def edit(self, handle: Any, text: str, *, final: bool = True) -> None:
        if self.final_edit_fails and not text.endswith(CURSOR):
            raise ConnectionResetError("the platform dropped the final edit")
        self.messages[handle] = text


def chat_reply(monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingReply, ChatMessenger]:
    """A reply whose answers stream through the platforms' own loop (progress edits with the cursor)."""
    reply, chat = RecordingReply(), ChatMessenger()
    monkeypatch.setattr(reply, "stream", lambda stop=None: StreamingAnswer(chat, limit=4096, interval=0))
    return reply, chat


async def test_answers_in_progress_finish_within_the_grace_and_new_questions_get_one_line(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    gate = asyncio.Event()
    fake_openai.then(Script(text="Finished in time.", prompt_tokens=10, completion_tokens=4, hold=gate))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        first = RecordingReply()
        asking = asyncio.create_task(h.core.handle(message("/ask hi", user=BOB), first))
        await eventually(lambda: bool(fake_openai.requests), "the question reached the model")
        draining = asyncio.create_task(h.core.drain(grace=60))
        await eventually(lambda: h.core.draining, "the stop began")
        late = await h.say("/ask another", user=BOB)
        assert late.lines == late.private_lines == [RESTARTING] and late.answers == []
        assert (await h.say("/spend")).lines == [RESTARTING]  # nothing new starts while stopping
        gate.set()
        assert await draining == 0  # none cut: it finished within the grace
        await asking
        assert first.answers == ["Finished in time. "] and first.lines == []
        row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
        assert row is not None and (int(row["cost"]), int(row["estimated"])) == (expected_cost(10, 4), 0)
        assert await holds(h) == 0
        assert len(fake_openai.requests) == 1


async def test_an_answer_past_the_grace_is_cut_shown_without_the_cursor_and_charged_its_bound(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.then(Script(text="one two three four", stall_after_words=2))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply, chat = chat_reply(monkeypatch)
        asking = asyncio.create_task(h.core.handle(message("/ask count", user=BOB), reply))
        await eventually(lambda: fake_openai.stalled == 1, "two words sent")
        await eventually(lambda: chat.messages == ["one two " + CURSOR], "two words shown")
        assert await h.core.drain(grace=0) == 1
        await asking  # the adapter's own task is not cancelled: it goes on to its clean stop
        assert chat.messages == ["one two "]  # final: what was shown, without the cursor
        assert reply.lines == []
        assert await estimated_charge(h) == reserved[0].bound_of("one two ") < reserved[0].hold.amount
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_a_cut_answer_whose_platform_hangs_still_settles_within_a_bounded_wait(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A final edit that never returns (a platform stuck) must not hold the stop forever, nor the charge."""
    fake_openai.then(Script(text="one two three", stall_after_words=1))
    monkeypatch.setattr("bot.incoming.CUT_DELIVERY_LIMIT", 0.01)
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply, chat = chat_reply(monkeypatch)
        hang = asyncio.Event()

        async def stuck(handle: Any, text: str) -> None:
            if not text.endswith(CURSOR):
                await hang.wait()
            chat.messages[handle] = text

        monkeypatch.setattr(chat, "edit", stuck)
        asking = asyncio.create_task(h.core.handle(message("/ask count", user=BOB), reply))
        await eventually(lambda: chat.messages == ["one " + CURSOR], "a word shown")
        assert await h.core.drain(grace=0) == 1
        await asking
        assert await estimated_charge(h) == reserved[0].bound_of("one ")
        assert await holds(h) == 0


async def test_a_final_edit_that_fails_after_usage_arrived_is_charged_that_usage(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model finished and said what it used: a platform error on the last edit changes nothing owed."""
    fake_openai.then(Script(text="All of it.", prompt_tokens=10, completion_tokens=3))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reply, chat = chat_reply(monkeypatch)
        chat.final_edit_fails = True
        await h.core.handle(message("/ask hi", user=BOB), reply)
        row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
        assert row is not None and (int(row["cost"]), int(row["estimated"])) == (expected_cost(10, 3), 0)
        assert await holds(h) == 0
        await check_invariants(h.ledger)
