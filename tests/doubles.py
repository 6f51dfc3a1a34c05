"""Test doubles for the core's side of the contract: a Reply that records, a settable clock, a core that
reports what it handled, the script a stand-in core streams; and the waits tests use for state another
task changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.streaming import StreamingAnswer
from bot.i18n import Language, from_client, speaking
from bot.incoming import ClosingStream, CommandInfo, Incoming, Menu, ModelChoice, Reply
from bot.storage import Turn

CoreScript = Callable[[Incoming, Reply], Awaitable[None]]  # what a scripted stand-in core does with a message


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

    def stream(self, stop: str | None = None) -> RecordingStream:
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


def message(text: str, user: str = "telegram:1", conversation: str | None = None, **kw: object) -> Incoming:
    """A message in a private chat with the bot unless `private=False` (a group) is given."""
    kw.setdefault("private", True)
    return Incoming(user=user, conversation=conversation or f"t:{user}", text=text, **kw)  # type: ignore[arg-type]


async def eventually(condition: Callable[[], bool], what: str = "condition", seconds: float = 10.0) -> None:
    """Wait until `condition()` holds (state another task changes), failing the test after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def wait_until(
    changed: asyncio.Condition,
    predicate: Callable[[], bool],
    failure: str | Callable[[], str],
    limit: float = 15,
) -> None:
    """Wait until `predicate()` holds, checked whenever `changed` is notified; fail the test after `limit`
    seconds with `failure` (a callable is asked at that moment, so it can describe the state reached)."""
    try:
        async with asyncio.timeout(limit), changed:
            await changed.wait_for(predicate)
    except TimeoutError:
        raise AssertionError(failure() if callable(failure) else failure) from None


class FirstClaims:
    """The core's delivery claims for stand-in cores: the first claim of a key wins (as `Core.claim`)."""

    def __init__(self) -> None:
        self.claimed: list[str] = []

    async def claim(self, delivery: str) -> bool:
        if delivery in self.claimed:
            return False
        self.claimed.append(delivery)
        return True

    async def line_up(self, key: str) -> Turn:
        """One process, so a turn taken at once (as `Core.line_up` on SQLite)."""
        return Turn()

    async def stop(self, answer: str, *, by: str, language: str | None = None) -> str:
        """Nothing a scripted core runs can be stopped."""
        return "This answer has already finished."

    @asynccontextmanager
    async def speaking_to(self, incoming: Incoming) -> AsyncIterator[None]:
        """No profiles here: the client's language (as `Core.speaking_to` for someone without /lang)."""
        with speaking(from_client(incoming.language) or "en"):
            yield


class TrackingCore:
    """Wraps a chat core (real or scripted); a test can wait until N messages were started, or handled."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.started: list[Incoming] = []
        self.handled: list[Incoming] = []
        self._changed = asyncio.Condition()

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        await self._record(self.started, incoming)
        try:
            await self.inner.handle(incoming, reply)
        finally:
            await self._record(self.handled, incoming)

    async def claim(self, delivery: str) -> bool:
        result: bool = await self.inner.claim(delivery)
        return result

    async def line_up(self, key: str) -> Turn:
        turn: Turn = await self.inner.line_up(key)
        return turn

    async def stop(self, answer: str, *, by: str, language: str | None = None) -> str:
        result: str = await self.inner.stop(answer, by=by, language=language)
        return result

    async def _record(self, where: list[Incoming], incoming: Incoming) -> None:
        async with self._changed:
            where.append(incoming)
            self._changed.notify_all()

    def command_list(self, *, owner: bool = False) -> list[CommandInfo]:
        result: list[CommandInfo] = self.inner.command_list(owner=owner)
        return result

    def model_choices(self, query: str) -> list[ModelChoice]:
        result: list[ModelChoice] = self.inner.model_choices(query)
        return result

    def client_language(self, code: str | None) -> Language:
        result: Language = self.inner.client_language(code)
        return result

    def speaking_to(self, incoming: Incoming) -> AbstractAsyncContextManager[None]:
        result: AbstractAsyncContextManager[None] = self.inner.speaking_to(incoming)
        return result

    async def wait_handled(self, count: int, limit: float = 15) -> list[Incoming]:
        await self._wait(lambda: len(self.handled) >= count, f"{count} handled messages", limit)
        return self.handled

    async def _wait(self, predicate: Callable[[], bool], what: str, limit: float) -> None:
        def failure() -> str:
            return f"waiting for {what}: started {len(self.started)}, handled {len(self.handled)}"

        await wait_until(self._changed, predicate, failure, limit)


def streaming_script(*deltas: str) -> CoreScript:
    """A stand-in core's script for the platform adapters: stream `deltas`, each shown before the next is
    written, as a model slower than the fakes would."""

    async def script(incoming: Incoming, reply: Reply) -> None:
        async with reply.stream() as out:
            assert isinstance(out, StreamingAnswer)  # the adapters' shared loop, which can drain
            for delta in deltas:
                await out.write(delta)
                await out.drain()

    return script
