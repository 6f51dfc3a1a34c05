"""Per-person rate limits: requests per minute (sliding window) and answers in flight.

Both live in memory in the process that answers chats; the ledger's caps are what protect money, these
protect the providers' rate limits and the owner's patience. Times come from an injectable clock.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.refusals import RateLimited

WINDOW = timedelta(minutes=1)
# What we tell someone whose answers are still streaming: answers rarely take longer.
IN_FLIGHT_RETRY_SECONDS = 10


class PerMinute:
    """At most `limit` admitted requests per person in any 60-second window (0: no limit).

    Someone refused is told once: their further requests until one is admitted again are refused
    silently, so a flood costs one line (and one platform send), not one per message.
    """

    def __init__(self, limit: int, clock: Callable[[], datetime]) -> None:
        self.limit = limit
        self._clock = clock
        self._seen: dict[str, deque[datetime]] = {}
        self._told: set[str] = set()  # refused since their last admitted request

    def admit(self, user: str) -> None:
        """Count one request, or raise `RateLimited` saying when the oldest one leaves the window
        (`silent` when they were already told so).

        A refused request is not counted, so trying again when told to works.
        """
        if self.limit <= 0:
            return
        now = self._clock()
        seen = self._seen.setdefault(user, deque())
        while seen and seen[0] <= now - WINDOW:
            seen.popleft()
        if len(seen) >= self.limit:
            wait = (seen[0] + WINDOW - now).total_seconds()
            silent = user in self._told
            self._told.add(user)
            raise RateLimited(max(1, math.ceil(wait)), "per_minute", silent=silent)
        self._told.discard(user)
        seen.append(now)
        self._prune(now)

    def _prune(self, now: datetime) -> None:
        # keep memory bounded by the people active in the last minute
        if len(self._seen) > 1024:
            for user in [u for u, s in self._seen.items() if not s or s[-1] <= now - WINDOW]:
                del self._seen[user]
                self._told.discard(user)


class InFlight:
    """At most `limit` answers in progress per person.

    An answer is in progress while the asyncio task that handles its message runs: `Core.handle` runs the
    access check and the command in one task, so a task that finishes, or that starts on its next message
    (adapters that handle messages one after another in one task), is no longer counted.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[str, set[asyncio.Task[object]]] = {}
        self._user_of: dict[asyncio.Task[object], str] = {}

    def enter(self, user: str) -> None:
        """Count the current task as one answer in progress for `user`, or raise `RateLimited`."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - the core always runs in a task
            return
        self._forget(task)  # this task is done with whatever it handled before
        running = self._running.setdefault(user, set())
        if len(running) >= self.limit:
            raise RateLimited(IN_FLIGHT_RETRY_SECONDS, "in_flight")
        running.add(task)
        self._user_of[task] = user
        task.add_done_callback(self._forget)

    def count(self, user: str) -> int:
        """Answers in progress for `user`, for tests and diagnostics (refusing is `enter`'s job)."""
        return len(self._running.get(user, ()))

    def _forget(self, task: asyncio.Task[object]) -> None:
        user = self._user_of.pop(task, None)
        if user is None:
            return
        task.remove_done_callback(self._forget)
        running = self._running.get(user)
        if running is not None:
            running.discard(task)
            if not running:
                del self._running[user]
