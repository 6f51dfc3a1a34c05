"""Which update runs when: concurrently across people, in arrival order for each person.

Updates run concurrently, so a slow answer never holds up anyone else, but `PerPersonOrder` queues one
person's updates behind each other: their second question waits for the first answer (and is asked with
its history), and a menu tap is applied after the /model that showed it. A person's queue is bounded
(`adapters.person_queues`). With a webhook served by several processes, an update also lines up in its
person's turn in the database before Telegram is acknowledged (`PerPersonOrder.admit`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from adapters.handoff import short
from adapters.person_queues import PersonQueues
from bot.storage import Turn

if TYPE_CHECKING:
    from adapters.telegram_bot.handlers import Handlers

log = logging.getLogger(__name__)

# PTB holds one of its slots for each update from arrival until `do_process_update` returns, waiting in a
# person's queue included, so its bound must never be what limits: the queues bound what waits (per
# person) and what runs (everyone together), see `adapters.person_queues`.
ACCEPTED = sys.maxsize


class PerPersonOrder(BaseUpdateProcessor):
    """Concurrent updates, one person's strictly in arrival order, none holding up anyone else.

    PTB starts one task per update in arrival order, and each joins its person's queue before its first
    suspension, so arrival order is answer order. An update that is not for the bot (group chatter) is
    not queued: it only passes through the handler that ignores it.

    With a webhook, several processes may receive one person's updates (web workers behind a load
    balancer). Then each update also lines up in its person's turn in the database as it arrives (`admit`,
    before Telegram hears 200), and is handled only once the turns lined up before it, in any process,
    have ended: the order in which updates reach the workers is the order of the answers.
    """

    def __init__(self, handlers: Handlers, queues: PersonQueues | None = None) -> None:
        super().__init__(ACCEPTED)
        self._handlers = handlers
        self.queues = queues or PersonQueues()
        self._turns: dict[int, Turn] = {}  # by id() of an admitted update until its task picks it up
        # One line-up at a time, queued right after it: this process queues a person's updates in the
        # order of their turns (otherwise the first queued could wait for a turn behind the second).
        self._lining_up = asyncio.Lock()

    async def admit(self, update: Update, queue: asyncio.Queue[object]) -> None:
        """Webhook: line `update` up in its person's turn across processes, then queue it for PTB.

        A turn the database can't give is skipped with a warning: answering in this process's order is
        better than not answering.
        """
        person = self._handlers.person(update)
        if person is None:
            await queue.put(update)
            return
        async with self._lining_up:
            try:
                self._turns[id(update)] = await self._handlers.core.line_up(f"telegram:{person}")
            except Exception as exc:
                log.warning("telegram: no turn for telegram:%s, answering anyway: %s", person, short(exc))
            await queue.put(update)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        self._handlers.arrived(update)
        person = self._handlers.person(update)
        turn = self._turns.pop(id(update), None)  # before any suspension, like joining the queue below
        if person is None:
            await coroutine
            return

        async def dropped(first: bool) -> None:
            if first:
                await self._handlers.tell_dropped(update, self.queues)

        try:
            await self.queues.run(person, coroutine if turn is None else _in_turn(turn, coroutine), dropped)
        finally:
            if turn is not None:  # also when dropped or cancelled: leave the line, nobody waits for it
                if (
                    inspect.iscoroutine(coroutine)
                    and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
                ):
                    coroutine.close()  # dropped: the queue closed `_in_turn`, which never got to run it
                await turn.close()

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """`Application.stop` has waited for every update it accepted; an update admitted but never
        picked up (the stop came first) leaves its person's line here, so no other worker waits for it."""
        turns, self._turns = list(self._turns.values()), {}
        for turn in turns:
            await turn.close()


async def _in_turn(turn: Turn, coroutine: Awaitable[Any]) -> None:
    """Run `coroutine` once `turn` is taken (a turn the database lost: run it anyway, with a warning)."""
    try:
        await turn.taken()
    except Exception as exc:
        log.warning("telegram: lost a turn while waiting for it, answering anyway: %s", short(exc))
    except BaseException:
        if asyncio.iscoroutine(coroutine):
            coroutine.close()  # never run: close it, or Python warns it was never awaited
        raise
    await coroutine
