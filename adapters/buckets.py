"""A token bucket on a clock the caller hands in: the budgets of both chat platforms' outgoing calls."""

from __future__ import annotations

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
