"""Discord's budgets spent by priority: progress edits give way so final texts never queue behind them.

discord.py already waits out Discord's rate limits (it reads the bucket headers and sleeps), but it waits
for every call alike: under load a progress edit would queue in front of another answer's final text.
Here, on top of it, the process counts its writes against Discord's buckets (5 messages per 5 s in one
channel, 50 requests a second for the bot) and skips a progress edit when its channel's bucket, or the
global one, is short: the edit would only delay what matters. First and final texts always go (discord.py
paces them) and are counted, so progress gives way to them.

A progress edit is any edit the streaming loop doesn't mark `final`. A skipped edit raises `FloodWait`,
which the loop already treats as "no progress until then".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adapters.buckets import Bucket
from adapters.streaming import FloodWait, Messenger

CHANNEL_RATE, CHANNEL_BURST = 1.0, 5.0  # 5 per 5 s in one channel
GLOBAL_RATE, GLOBAL_BURST = 50.0, 50.0  # a second, for the whole bot
CHANNEL_KEEP = 1.0  # a progress edit leaves this much of its channel's bucket for a final text
GLOBAL_KEEP = 10.0  # ... and this much of the bot's


class Pacer:
    """One bot token's buckets (the client holds one for all its replies). Decisions take the clock's now."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._global = Bucket(GLOBAL_RATE, GLOBAL_BURST)
        self._channels: dict[int, Bucket] = {}

    def _channel(self, channel_id: int, now: float) -> Bucket:
        found = self._channels.get(channel_id)
        if found is None:
            if len(self._channels) > 10_000:  # forget channels whose budget is whole again
                self._channels = {k: b for k, b in self._channels.items() if not b.full(now)}
            found = self._channels[channel_id] = Bucket(CHANNEL_RATE, CHANNEL_BURST)
        return found

    def spend(self, channel_id: int) -> None:
        """A call that goes out whatever the budget (first and final texts): counted, never refused."""
        now = self._clock()
        self._global.take(now)
        self._channel(channel_id, now).take(now)

    def progress(self, channel_id: int) -> float:
        """0 when a progress edit may go now (it is counted), else the seconds until it might."""
        now = self._clock()
        channel = self._channel(channel_id, now)
        ready = max(channel.ready_at(now, CHANNEL_KEEP), self._global.ready_at(now, GLOBAL_KEEP))
        if ready > now:
            return ready - now
        self._global.take(now)
        channel.take(now)
        return 0.0


class PacedMessenger:
    """A `Messenger` (InteractionReply, MessageReply) whose progress edits give way under load."""

    def __init__(self, messenger: Messenger, channel_id: int, pacer: Pacer) -> None:
        self._messenger = messenger
        self._channel_id = channel_id
        self._pacer = pacer

    @property
    def drafts(self) -> bool:
        return self._messenger.drafts

    async def send(self, text: str, *, final: bool) -> Any:
        self._pacer.spend(self._channel_id)
        return await self._messenger.send(text, final=final)

    async def edit(self, handle: Any, text: str, *, final: bool) -> None:
        if final:
            self._pacer.spend(self._channel_id)
        else:
            wait = self._pacer.progress(self._channel_id)
            if wait:
                raise FloodWait(wait)
        await self._messenger.edit(handle, text, final=final)

    async def draft(self, text: str) -> None:
        await self._messenger.draft(text)
