"""What every outgoing Bot API call says about itself to the token's one outgoing scheduler.

Callers pass `rate_limit_args={"priority": Priority.X}` on each bot method; the scheduler (python-telegram-
bot's `BaseRateLimiter` slot) spends Telegram's budget by priority and may refuse the least urgent calls
under load with `Dropped`, which callers treat as "skipped", never as a failure.

The scheduler is two parts: `Budget` decides (which waiting call may go now, which is dropped, when to look
again) from a clock it is handed, so its decisions are tested without time passing; `OutgoingScheduler`
is the asynchronous shell PTB calls, one per bot token, with one dispatcher task that wakes when a call
arrives, a bucket refills or a flood wait ends.

Telegram's limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this):
about 30 messages a second overall, one a second in a private chat (short bursts tolerated), 20 a minute
in a group; edits and drafts are writes like messages, and chat actions ("typing…") count towards the
overall budget only. A 429 names a `retry_after` that
holds for the whole token, so every waiting call waits it out, and the refused call is queued again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import IntEnum
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from adapters.buckets import Bucket, Window

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Lower goes first: a final text beats a first text beats progress beats typing."""

    FINAL = 0
    FIRST = 1
    PROGRESS = 2
    TYPING = 3


class Dropped(Exception):
    """The scheduler chose not to send this call (progress or typing under load); nothing went out."""


# Bot API methods that write into a chat: the ones Telegram's per-chat and overall limits count.
WRITES = ("send", "edit", "copyMessage", "forwardMessage")
DROPPABLE = frozenset({Priority.PROGRESS, Priority.TYPING})


@dataclass(frozen=True)
class Limits:
    """The budget of one bot token. The defaults stay a little under Telegram's own, so jitter on the way
    (two calls granted 34 ms apart may arrive 20 ms apart) does not cost a 429."""

    # every chat together: at most 10 in any 10/29 s (29 a second). A short window keeps room for jitter: two
    # windows' worth granted one span apart may arrive closer together, and the closer they are the more of
    # Telegram's per-second allowance the pair would claim (a 29-in-1-s window left ~60 ms of slack, not
    # enough under load)
    overall_rate: float = 29.0
    overall_burst: float = 10.0
    private_rate: float = 1.0  # a second, in one private chat
    private_burst: float = 2.0
    group_rate: float = 19 / 60  # a second, in one group (Telegram: 20 a minute)
    group_burst: float = 8.0
    # the share of the overall window progress and typing may fill: the rest is left to final and first
    # texts, so a second's answers finishing together are not held up by progress spent just before them
    progress_share: float = 0.5
    # how long progress and typing may wait for their turn before they are no longer worth sending
    max_wait: Mapping[Priority, float] = field(
        default_factory=lambda: {Priority.PROGRESS: 1.0, Priority.TYPING: 1.0}
    )


# No budget at all: for tests and benchmarks against fakes that enforce nothing.
UNBOUNDED = Limits(1e9, 1e9, 1e9, 1e9, 1e9, 1e9, progress_share=1.0)


@dataclass(eq=False)
class Ticket:
    """One call waiting for its turn. `outcome` is set by the budget: None (go), or the exception."""

    priority: Priority
    order: int
    chat: Bucket | None
    queued_at: float
    outcome: BaseException | None = None


class Budget:
    """The scheduler's decisions for one token, on a clock it is handed: no tasks, no sleeping."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._overall = Window(self.limits.overall_rate, self.limits.overall_burst)
        # calls of the window progress and typing leave unspent (see `Limits.progress_share`)
        self._headroom = int(self.limits.overall_burst) - math.ceil(
            self.limits.overall_burst * self.limits.progress_share
        )
        self._chats: dict[int | str, Bucket] = {}
        self._waiting: list[Ticket] = []
        self._order = 0
        self.paused_until = float("-inf")
        # answers on their way that have sent nothing yet: each will want a turn soon (see `coming`)
        self.coming = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _chat(self, chat_id: int | str, now: float) -> Bucket:
        found = self._chats.get(chat_id)
        if found is None:
            if len(self._chats) > 10_000:  # forget chats whose budget is whole again
                self._chats = {k: b for k, b in self._chats.items() if not b.full(now)}
            limits = self.limits
            private = isinstance(chat_id, int) and chat_id > 0  # groups and channels have negative ids
            found = self._chats[chat_id] = (
                Bucket(limits.private_rate, limits.private_burst)
                if private
                else Bucket(limits.group_rate, limits.group_burst)
            )
        return found

    def enqueue(self, priority: Priority, chat_id: int | str | None, now: float) -> Ticket:
        """A call lines up; progress and typing that could not go out soon are refused at once."""
        chat = None if chat_id is None else self._chat(chat_id, now)
        if priority in DROPPABLE:
            patience = self.limits.max_wait[priority]
            # the answers still being written will each want a turn before this one is worth anything
            ahead = self.coming + sum(1 for t in self._waiting if t.priority <= priority)
            soonest = max(now, self.paused_until, self._overall.ready_at(now, self._headroom))
            if chat is not None:
                soonest = max(soonest, chat.ready_at(now))
            if soonest - now + ahead / self.limits.overall_rate > patience:
                raise Dropped(f"{priority.name.lower()}: no turn within {patience:g}s")
        self._order += 1
        ticket = Ticket(priority, self._order, chat, now)
        self._waiting.append(ticket)
        return ticket

    @contextlib.contextmanager
    def answer_coming(self) -> Iterator[None]:
        """While an answer is being prepared and has sent nothing yet. Its text will want a turn soon, so
        progress and typing count it as a call ahead of them: with hundreds of answers about to finish,
        a "typing…" spent now would hold one of them up, while with a few the budget has room for both."""
        self.coming += 1
        try:
            yield
        finally:
            self.coming -= 1

    def discard(self, ticket: Ticket) -> None:
        """A caller gave up (cancelled): its place goes to the next call."""
        with contextlib.suppress(ValueError):
            self._waiting.remove(ticket)

    def pause(self, until: float) -> None:
        """Telegram said 429: nothing goes out for this token until `until`."""
        self.paused_until = max(self.paused_until, until)

    def serve(self, now: float) -> tuple[list[Ticket], float | None]:
        """Decide the calls whose turn it is (most urgent first); returns them and when to look again."""
        decided: list[Ticket] = []
        next_at: float | None = None

        def later(at: float) -> None:
            nonlocal next_at
            next_at = at if next_at is None else min(next_at, at)

        self._waiting.sort(key=lambda t: (t.priority, t.order))
        still: list[Ticket] = []
        for ticket in self._waiting:
            droppable = ticket.priority in DROPPABLE
            overall_ready = max(self.paused_until, self._overall.ready_at(now, self._headroom * droppable))
            if droppable:
                deadline = ticket.queued_at + self.limits.max_wait[ticket.priority]
                if now >= deadline or overall_ready > deadline:
                    ticket.outcome = Dropped(f"{ticket.priority.name.lower()}: waited too long")
                    decided.append(ticket)
                    continue
                later(deadline)
            if overall_ready > now:
                still.append(ticket)
                later(overall_ready)
                continue
            chat_ready = ticket.chat.ready_at(now) if ticket.chat is not None else now
            if chat_ready > now:
                still.append(ticket)
                later(chat_ready)
                continue
            self._overall.take(now)
            if ticket.chat is not None:
                ticket.chat.take(now)
            decided.append(ticket)
        self._waiting = still
        return decided, next_at


def retry_seconds(exc: RetryAfter) -> float:
    value = exc._retry_after  # the int-or-timedelta property warns about its deprecated int form
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _priority_of(endpoint: str, rate_limit_args: Any) -> tuple[Priority, int | None]:
    """(priority, retries after a 429 or None for the default) from what the caller passed."""
    if isinstance(rate_limit_args, Mapping):
        priority = Priority(rate_limit_args.get("priority", Priority.FIRST))
        return priority, rate_limit_args.get("retries")
    if isinstance(rate_limit_args, int):  # a plain line's retry count, as AIORateLimiter took it
        return Priority.FIRST, rate_limit_args
    return (Priority.TYPING if endpoint == "sendChatAction" else Priority.FIRST), None


class OutgoingScheduler(BaseRateLimiter[Any]):
    """python-telegram-bot's rate limiter slot: one per bot token, spending Telegram's budget by priority.

    `rate_limit_args` on a bot method is `{"priority": Priority.X}` (optionally `"retries": n`), or an int
    (that many retries after a 429, for plain lines), or nothing: a chat action is then TYPING, anything
    else FIRST. FINAL and FIRST calls are never dropped; after a 429 they are queued again, up to
    `max_retries` times (then the `RetryAfter` reaches the caller). PROGRESS and TYPING are dropped when
    their turn is too far away, or when a 429 refuses them: `Dropped` is raised and nothing went out.
    Reads (getUpdates, getMe, answerCallbackQuery, ...) pass straight through.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        max_retries: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = Budget(limits)
        self.max_retries = max_retries
        self._clock = clock
        self._futures: dict[Ticket, asyncio.Future[None]] = {}
        self._kick = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.refused = 0  # 429s received

    async def initialize(self) -> None:
        self._start()

    async def shutdown(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()

    def _start(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="telegram outgoing scheduler")

    async def _dispatch(self) -> None:
        while True:
            self._kick.clear()
            decided, next_at = self.budget.serve(self._clock())
            for ticket in decided:
                future = self._futures.pop(ticket, None)
                if future is None or future.done():
                    continue
                if ticket.outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(ticket.outcome)
            delay = None if next_at is None else max(0.0, next_at - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._kick.wait()

    async def _turn(self, priority: Priority, chat_id: int | str | None) -> None:
        self._start()
        ticket = self.budget.enqueue(priority, chat_id, self._clock())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[ticket] = future
        self._kick.set()
        try:
            await future
        except asyncio.CancelledError:
            self.budget.discard(ticket)
            self._futures.pop(ticket, None)
            raise

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Any,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None or not endpoint.startswith(WRITES):
            return await callback(*args, **kwargs)
        priority, retries = _priority_of(endpoint, rate_limit_args)
        retries = self.max_retries if retries is None else retries
        attempt = 0
        # a chat action shows no message: it spends the token's budget, not the chat's
        chat = None if endpoint == "sendChatAction" else chat_id
        while True:
            try:
                await self._turn(priority, chat)
            except Dropped:
                self.dropped += 1
                raise
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.refused += 1
                wait = retry_seconds(exc)
                log.info("telegram: 429 on %s; the whole token waits %gs", endpoint, wait)
                self.budget.pause(self._clock() + wait)
                self._kick.set()
                if priority in DROPPABLE:
                    self.dropped += 1
                    raise Dropped(f"{priority.name.lower()}: refused by flood control") from exc
                if attempt >= retries:
                    raise
                attempt += 1
                continue
            self.sent += 1
            return result
