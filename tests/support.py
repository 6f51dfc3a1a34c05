"""Test doubles for the core's side of the contract: a Reply that records, a settable clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.incoming import ClosingStream, Incoming, Menu


class RecordingStream(ClosingStream):
    def __init__(self, owner: RecordingReply) -> None:
        self._owner = owner
        self.deltas: list[str] = []
        self.closed = False

    async def write(self, delta: str) -> None:
        self.deltas.append(delta)

    async def close(self) -> str:
        self.closed = True
        text = "".join(self.deltas)
        if text:
            self._owner.answers.append(text)
        return text


@dataclass
class RecordingReply:
    """Everything the core said: plain lines (with their privacy), streamed answers, menus."""

    lines: list[str] = field(default_factory=list)
    private_lines: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    menus: list[Menu] = field(default_factory=list)

    async def text(self, text: str, *, private: bool = False) -> None:
        self.lines.append(text)
        if private:
            self.private_lines.append(text)

    def stream(self) -> RecordingStream:
        return RecordingStream(self)

    async def menu(self, menu: Menu) -> None:
        self.menus.append(menu)

    @property
    def last(self) -> str:
        return self.lines[-1] if self.lines else ""


class Clock:
    """A UTC clock tests move by hand."""

    def __init__(self, start: datetime = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def message(text: str, user: str = "telegram:1", thread: str | None = None, **kw: object) -> Incoming:
    return Incoming(user=user, thread=thread or f"t:{user}", text=text, **kw)  # type: ignore[arg-type]


async def eventually(condition: Callable[[], bool], what: str = "condition", seconds: float = 10.0) -> None:
    """Wait until `condition()` holds (state another task changes), failing the test after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
