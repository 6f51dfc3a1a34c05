"""The fake Bot API with Telegram's flood limits enforced: a write beyond them is answered 429.

Telegram's documented limits for one bot token: about 30 messages a second overall, one a second in a
private chat (short bursts tolerated), 20 a minute in a group. Messages, edits and drafts count in their
chat and overall; chat actions count overall only. Each limit is a token bucket here; a write that finds
a bucket empty is refused with `retry_after` (whole seconds, as Telegram gives them) until the bucket
would have a token again, and a refused write costs nothing. The fake also counts what a benchmark
reports: writes by method, 429s, and drafts (`sendMessageDraft`) when the bot sends them.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.fakes.telegram_api import ApiError, Call, FakeTelegram

# Bot API methods that write into a chat, as Telegram's limits count them
WRITES = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendMessageDraft",
        "sendChatAction",
        "sendPhoto",
        "sendDocument",
        "copyMessage",
        "forwardMessage",
    }
)


@dataclass(frozen=True)
class FloodLimits:
    overall_rate: float = 30.0  # writes a second, every chat together
    overall_burst: float = 30.0
    private_rate: float = 1.0  # a second, in one private chat
    private_burst: float = 3.0
    group_rate: float = 20 / 60  # a second, in one group
    group_burst: float = 20.0


@dataclass
class _Bucket:
    rate: float
    burst: float
    level: float
    stamp: float

    def wait(self, now: float) -> float:
        """0 when a write may go now (and it is counted), else the seconds until one may."""
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            return 0.0
        return (1 - self.level) / self.rate

    def take(self) -> None:
        self.level -= 1


@dataclass
class LimitedTelegram(FakeTelegram):
    """`FakeTelegram` that refuses writes beyond `limits` (None: counts only, refuses nothing)."""

    limits: FloodLimits | None = field(default_factory=FloodLimits)
    writes: Counter[str] = field(default_factory=Counter)  # accepted writes by method
    refused: Counter[str] = field(default_factory=Counter)  # 429s by method

    def __post_init__(self) -> None:
        super().__post_init__()
        limits = self.limits or FloodLimits()
        self._overall = _Bucket(
            limits.overall_rate, limits.overall_burst, limits.overall_burst, time.monotonic()
        )
        self._chats: dict[int, _Bucket] = {}

    def _bucket(self, chat_id: int, now: float) -> _Bucket:
        assert self.limits is not None
        found = self._chats.get(chat_id)
        if found is None:
            rate, burst = (
                (self.limits.private_rate, self.limits.private_burst)
                if chat_id > 0
                else (self.limits.group_rate, self.limits.group_burst)
            )
            found = self._chats[chat_id] = _Bucket(rate, burst, burst, now)
        return found

    def _inject(self, call: Call) -> None:
        super()._inject(call)
        if call.method not in WRITES:
            return
        if self.limits is not None:
            now = time.monotonic()
            # a chat action shows no message: it counts overall, not in the chat
            chat = None if call.method == "sendChatAction" else self._bucket(int(call.params["chat_id"]), now)
            wait = max(self._overall.wait(now), chat.wait(now) if chat else 0)
            if wait > 0:
                self.refused[call.method] += 1
                seconds = max(1, math.ceil(wait))
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", seconds)
            self._overall.take()
            if chat:
                chat.take()
        self.writes[call.method] += 1
