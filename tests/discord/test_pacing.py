"""Discord pacing: progress edits give way when a channel's (or the bot's) bucket is short; finals never.

Driven on a clock the test holds, with a recording messenger in place of discord.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters.discord_bot.pacing import PacedMessenger, Pacer
from adapters.streaming import CURSOR, FloodWait, StreamingAnswer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recording:
    drafts = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def send(self, text: str, *, final: bool) -> Any:
        self.calls.append(("send", text))
        return len(self.calls)

    async def edit(self, handle: Any, text: str, *, final: bool) -> None:
        self.calls.append(("edit", text))

    async def draft(self, text: str) -> None:
        raise AssertionError("Discord has no drafts")


async def test_progress_edits_give_way_when_the_channel_bucket_is_short_and_finals_never() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    sent = Recording()
    paced = PacedMessenger(sent, 42, pacer)
    handle = await paced.send("a" + CURSOR, final=False)
    for n in range(3):  # 5 per 5 s: one is spent, three progress edits leave one for the final
        await paced.edit(handle, "a" * (n + 2) + CURSOR, final=False)
    with pytest.raises(FloodWait) as wait:
        await paced.edit(handle, "skipped" + CURSOR, final=False)
    assert 0 < wait.value.retry_after <= 1.0
    for n in range(3):  # final texts go out however short the bucket is (discord.py paces them)
        await paced.edit(handle, f"final {n}", final=True)
    assert [text for _, text in sent.calls if "skipped" in text] == []
    assert [text for _, text in sent.calls][-3:] == ["final 0", "final 1", "final 2"]
    clock.now += 2.0  # the finals ran the bucket into debt: progress waits until it is paid back
    with pytest.raises(FloodWait):
        await paced.edit(handle, "still waiting" + CURSOR, final=False)
    clock.now += 5.0
    await paced.edit(handle, "again" + CURSOR, final=False)
    assert sent.calls[-1] == ("edit", "again" + CURSOR)


async def test_one_busy_channel_does_not_hold_back_another() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    busy, quiet = Recording(), Recording()
    for _ in range(6):
        await PacedMessenger(busy, 1, pacer).send("x", final=True)
    await PacedMessenger(quiet, 2, pacer).edit(1, "progress" + CURSOR, final=False)
    assert quiet.calls == [("edit", "progress" + CURSOR)]


async def test_the_streaming_loop_still_delivers_the_whole_answer_when_progress_is_skipped() -> None:
    clock = Clock()
    pacer = Pacer(clock)
    for _ in range(5):
        pacer.spend(7)  # the channel's bucket is empty
    sent = Recording()
    stream = StreamingAnswer(PacedMessenger(sent, 7, pacer), limit=2000, interval=0, clock=clock)
    for word in ("Hello", ", ", "world"):
        await stream.write(word)
        await stream.drain()
    assert await stream.close() == "Hello, world"
    assert sent.calls[0] == ("send", "Hello" + CURSOR)  # the first text goes out
    assert sent.calls[-1] == ("edit", "Hello, world")  # and the final, whatever the bucket
    assert all(text.endswith(CURSOR) or text == "Hello, world" for _, text in sent.calls)
    assert len(sent.calls) == 2  # every progress edit in between gave way
