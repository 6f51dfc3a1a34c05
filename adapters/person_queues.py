"""One person's messages answered in arrival order, without any of them holding up anyone else.

Both platform libraries hand the bot each event in a task of its own. A person's events wait for their
turn in that person's own queue, holding nothing shared; only the event being handled takes one of the
`HANDLING` slots that bound how much runs at once. So someone with hundreds of messages queued occupies
one slot, and a bystander's /spend is answered while that flood is still waiting.

Each queue is bounded: with `PENDING` events already waiting, a new one is dropped. The first drop of a
burst (a burst ends when the person's queue runs empty) gets one notice; later ones get none, so a flood
costs the bot no platform sends beyond it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.i18n import Language, speaking
from bot.refusals import QueueFull
from bot.wording import refusal

PENDING = 20  # events one person may have waiting behind the one being handled
HANDLING = 256  # events handled at once, everyone together

Dropped = Callable[[bool], Awaitable[None]]  # told of each drop: True for the first of a burst


@dataclass
class _Line:
    """One person's queue: turns handed out first in, first out."""

    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    busy: bool = False  # an event of theirs holds the turn (handled, or about to take a slot)
    told: bool = False  # this burst's first drop was announced


class PersonQueues:
    """Per-person FIFO queues in front of one shared bound on work in progress."""

    def __init__(self, *, pending: int = PENDING, handling: int = HANDLING) -> None:
        self.pending = pending
        self._slots = asyncio.Semaphore(handling)
        self._lines: dict[Hashable, _Line] = {}

    def notice(self, language: Language) -> str:
        """The one line for the first drop of a burst, in the person's `language` (the core never saw
        the dropped message, so the adapter words it from what the client reports)."""
        with speaking(language):
            return refusal(QueueFull(self.pending), datetime.now(UTC))

    def waiting(self, person: Hashable) -> int:
        """Events of `person` waiting behind the one being handled (for tests and diagnostics)."""
        line = self._lines.get(person)
        return len(line.waiting) if line else 0

    async def run(self, person: Hashable, work: Awaitable[Any], dropped: Dropped) -> bool:
        """Await `work` in `person`'s turn and within the shared bound; False when it was dropped instead.

        Whether to queue or drop is decided before the first suspension, so events join in the order
        their tasks start. Work that never runs is closed (a coroutine never awaited warns otherwise).
        """
        line = self._lines.setdefault(person, _Line())
        if line.busy:
            if len(line.waiting) >= self.pending:
                _discard(work)
                first, line.told = not line.told, True
                await dropped(first)
                return False
            turn = asyncio.get_running_loop().create_future()
            line.waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.cancelled():  # still waiting: leave the queue
                    line.waiting.remove(turn)
                else:  # the turn had just been handed over: pass it on
                    self._pass_turn(person, line)
                _discard(work)
                raise
        else:
            line.busy = True
        try:
            async with self._slots:
                await work
        finally:
            self._pass_turn(person, line)
        return True

    def _pass_turn(self, person: Hashable, line: _Line) -> None:
        """Wake the next event still waiting, or end the person's burst (and forget them)."""
        while line.waiting:
            turn = line.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        line.busy = False
        if self._lines.get(person) is line:
            del self._lines[person]  # no queue kept per person ever seen


def _discard(work: Awaitable[Any]) -> None:
    if inspect.iscoroutine(work):
        work.close()
