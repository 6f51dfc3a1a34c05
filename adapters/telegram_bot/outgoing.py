"""What every outgoing Bot API call says about itself to the token's one outgoing scheduler.

Callers pass `rate_limit_args={"priority": Priority.X}` on each bot method; the scheduler (python-telegram-
bot's `BaseRateLimiter` slot) spends Telegram's budget by priority and may refuse the least urgent calls
under load with `Dropped`, which callers treat as "skipped", never as a failure.
"""

from __future__ import annotations

from enum import IntEnum


class Priority(IntEnum):
    """Lower goes first: a final text beats a first text beats progress beats typing."""

    FINAL = 0
    FIRST = 1
    PROGRESS = 2
    TYPING = 3


class Dropped(Exception):
    """The scheduler chose not to send this call (progress or typing under load); nothing went out."""
