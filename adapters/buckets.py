"""Budgets on a clock the caller hands in, for both chat platforms' outgoing calls: a token bucket, and a
sliding window for limits stated as "at most N in any second"."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Bucket:
    """`burst` calls at once, then `rate` a second. The level may go below zero when a call that must go
    out is counted anyway (a final text): the next calls then wait for the debt to be paid back."""

    rate: float
    burst: float
    level: float = field(init=False)
    stamp: float = field(default=float("-inf"))

    def __post_init__(self) -> None:
        self.level = self.burst

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def ready_at(self, now: float, keep: float = 0) -> float:
        """When the next call may go (now, or later), leaving `keep` calls' worth in the bucket."""
        self._refill(now)
        short = 1 + keep - self.level
        return now if short <= 0 else now + short / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.level -= 1

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.level >= self.burst


@dataclass
class Window:
    """At most `burst` calls in any `burst / rate` seconds: a limit stated as "30 messages a second" read
    the way it is enforced. Unlike a bucket refilled at `rate` with room for `burst`, it never lets more
    than `burst` through in one window, yet after a quiet spell the whole window's worth may go at once.
    Calls counted anyway (a final text past the limit) make the next ones wait until they age out."""

    rate: float
    burst: float
    _sent: deque[float] = field(default_factory=deque, init=False)

    @property
    def span(self) -> float:
        return self.burst / self.rate

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.span:
            self._sent.popleft()

    def ready_at(self, now: float, keep: float = 0) -> float:
        """When the next call may go (now, or once enough earlier calls have aged out of the window)."""
        self._forget(now)
        over = len(self._sent) + int(keep) + 1 - int(self.burst)
        return now if over <= 0 else self._sent[over - 1] + self.span

    def take(self, now: float) -> None:
        self._forget(now)
        self._sent.append(now)

    def full(self, now: float) -> bool:
        self._forget(now)
        return not self._sent
