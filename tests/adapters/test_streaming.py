"""The shared streaming loop: splitting without loss, throttled edits, flood control."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.streaming import CURSOR, FloodWait, Skipped, StreamingAnswer, split_text


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def unfenced(chunks: list[str]) -> str:
    """Undo the fences split_text adds at chunk borders, to compare with the original."""
    out = []
    for i, chunk in enumerate(chunks):
        if i > 0 and chunk.startswith("```") and chunks[i - 1].endswith("\n```"):
            chunk = chunk.split("\n", 1)[1]
        if i < len(chunks) - 1 and chunk.endswith("\n```") and chunks[i + 1].startswith("```"):
            chunk = chunk[: -len("```")]
        out.append(chunk)
    return "".join(out)


def words_of(text: str) -> list[str]:
    return text.split()


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello", 10) == ["hello"]


def test_long_prose_splits_at_paragraphs_and_loses_no_word() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 60 for i in range(20)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, 1000)
    assert len(chunks) > 1
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.startswith("Paragraph") for c in chunks)  # cuts land on paragraph boundaries
    assert words_of(" ".join(chunks)) == words_of(text)


def test_code_blocks_are_closed_and_reopened_across_chunks() -> None:
    text = "Intro\n\n```python\n" + "".join(f"print({i})\n" for i in range(400)) + "```\nDone."
    chunks = split_text(text, 500)
    assert all(len(c) <= 500 for c in chunks)
    for chunk in chunks:
        assert chunk.count("```") % 2 == 0, chunk  # every chunk renders on its own
    assert all(c.startswith("```python") for c in chunks[1:-1])
    assert words_of(unfenced(chunks)) == words_of(text)


def test_limits_can_be_counted_in_utf16_units() -> None:
    text = "😀" * 5000  # two UTF-16 units each, no spaces or newlines
    chunks = split_text(text, 4096, utf16_len)
    assert all(utf16_len(c) <= 4096 for c in chunks)
    assert "".join(chunks) == text


class FakeMessenger:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.calls: list[tuple[str, int, str]] = []
        self.flood: list[float] = []  # retry_after values to raise, one per call
        self.drafts = False

    async def draft(self, text: str) -> None:
        raise AssertionError("no drafts here")

    async def send(self, text: str, *, final: bool = True) -> Any:
        self._maybe_flood()
        self.messages.append(text)
        self.calls.append(("send", len(self.messages) - 1, text))
        return len(self.messages) - 1

    async def edit(self, handle: Any, text: str, *, final: bool = True) -> None:
        self._maybe_flood()
        self.messages[handle] = text
        self.calls.append(("edit", handle, text))

    def _maybe_flood(self) -> None:
        if self.flood:
            raise FloodWait(self.flood.pop(0))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_edits_are_throttled_and_the_final_text_has_no_cursor() -> None:
    messenger, clock = FakeMessenger(), Clock()
    async with StreamingAnswer(messenger, limit=100, interval=1.0, clock=clock) as answer:
        for word in ["Hello", " there", " friend"]:
            await answer.write(word)
            clock.now += 0.4  # three writes within 1.2 s: the first shows, the third may
    assert messenger.messages == ["Hello there friend"]
    kinds = [c[0] for c in messenger.calls]
    assert kinds[0] == "send" and messenger.calls[0][2] == "Hello" + CURSOR
    assert len(messenger.calls) <= 3


async def test_a_long_answer_continues_in_new_messages() -> None:
    messenger = FakeMessenger()
    text = "\n\n".join(f"Part {i} " + "x" * 80 for i in range(10))
    async with StreamingAnswer(messenger, limit=200, interval=0) as answer:
        for i in range(0, len(text), 37):
            await answer.write(text[i : i + 37])
    assert len(messenger.messages) > 1
    assert all(len(m) <= 200 for m in messenger.messages)
    assert words_of(" ".join(messenger.messages)) == words_of(text)


async def test_flood_control_skips_progress_edits_but_delivers_the_final_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def no_sleep(seconds: float) -> None:
        if seconds:
            slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("adapters.streaming.asyncio.sleep", no_sleep)
    messenger, clock = FakeMessenger(), Clock()
    answer = StreamingAnswer(messenger, limit=100, interval=1.0, clock=clock)
    await answer.write("first")
    messenger.flood = [30.0]
    clock.now = 2.0
    await answer.write(" second")  # flood: progress edit skipped, next edits wait 30 s
    clock.now = 5.0
    await answer.write(" third")  # still inside the flood wait: no call at all
    calls_before_close = len(messenger.calls)
    messenger.flood = [3.0]  # the final edit is refused once, then retried
    await answer.close()
    assert calls_before_close == 1
    assert messenger.messages == ["first second third"]
    assert slept == [3.0]


class SlowMessenger(FakeMessenger):
    """Every call waits for the test to let it through, like a platform library queueing for its limit."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, text: str, *, final: bool = True) -> Any:
        await self.gate.wait()
        return await super().send(text)

    async def edit(self, handle: Any, text: str, *, final: bool = True) -> None:
        await self.gate.wait()
        await super().edit(handle, text)


async def test_a_slow_platform_call_never_holds_up_the_stream() -> None:
    """The model's words keep coming while a progress call waits; the final edit shows them all."""
    messenger = SlowMessenger()
    answer = StreamingAnswer(messenger, limit=1000, interval=0)
    words = [f" w{i}" for i in range(200)]
    for word in words:
        await asyncio.wait_for(answer.write(word), 1)  # returns although the first send is still queued
    assert messenger.calls == []
    messenger.gate.set()
    await answer.close()
    assert messenger.messages == ["".join(words)]
    # the first send (with whatever text it had), then one final edit: not an edit per word
    assert [kind for kind, _, _ in messenger.calls] == ["send", "edit"]


@pytest.mark.parametrize(
    "unit",
    [
        "👨\u200d👩\u200d👧",  # a family: five code points joined by zero-width joiners
        "🇵🇪",  # a flag: two regional-indicator letters
        "👍🏽",  # a thumb with a skin tone
        "e\u0301",  # e + combining acute accent
        "❤\ufe0f",  # a heart with the emoji variation selector
    ],
)
def test_a_hard_cut_never_splits_one_visible_character(unit: str) -> None:
    text = unit * 50  # no spaces or newlines: the cut can only fall between code points
    for limit in (11, 16, 33, 100):  # room for a whole unit besides the fence budget (4)
        chunks = split_text(text, limit)
        assert "".join(chunks) == text
        assert all(len(c) <= limit for c in chunks)
        assert all(c == unit * (len(c) // len(unit)) for c in chunks), (limit, chunks)


async def test_an_answer_done_before_its_first_progress_call_went_out_is_one_message() -> None:
    messenger = FakeMessenger()
    async with StreamingAnswer(messenger, limit=100, interval=1.0, first_delay=60) as answer:
        for word in ["Quick", " answer"]:
            await answer.write(word)  # the first progress call waits for its turn, then is withdrawn
    assert messenger.calls == [("send", 0, "Quick answer")]


async def test_progress_the_scheduler_skips_is_fine_and_the_final_text_still_goes() -> None:
    class Busy(FakeMessenger):
        async def edit(self, handle: Any, text: str, *, final: bool = True) -> None:
            if not final:
                raise Skipped()  # no room for progress under load
            await super().edit(handle, text)

    messenger = Busy()
    async with StreamingAnswer(messenger, limit=100, interval=0) as answer:
        for word in ["one", " two", " three"]:
            await answer.write(word)
            await answer.drain()
    assert messenger.messages == ["one two three"]
