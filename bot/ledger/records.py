"""What the ledger hands out and raises: quotes, holds, charge details, summaries, refusals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from bot.ledger.periods import Period
from bot.refusals import Refusal
from bot.tokens import TokenCounts


@dataclass(frozen=True)
class Quote:
    """The price shape of one request, computed by the caller (the ledger knows no model)."""

    input_nanos: int  # the input at its upper bound
    output_nanos_per_token: Decimal  # may be fractional
    max_output_tokens: int
    min_output_tokens: int  # below this an answer is not worth giving

    def worst_case(self, output_tokens: int) -> int:
        """The most the request can cost with `output_tokens` of output: the input at its bound and each
        output token at its dearest rate, rounded up (what a hold for that many tokens amounts to)."""
        return self.input_nanos + math.ceil(self.output_nanos_per_token * output_tokens)


@dataclass(frozen=True)
class Hold:
    """A reservation taken by `reserve`: what must be settled or released, and the output it may use."""

    id: int
    user: str
    amount: int
    max_output_tokens: int  # possibly clamped below the quote's


@dataclass(frozen=True)
class ChargeDetail:
    """What a charge was for (model and token counts), kept with it for usage reports.

    The amount the owner absorbed (a reported cost above the hold) is not part of it: `settle` works it
    out from the cost and the hold, and records it with the charge."""

    model: str
    tokens: TokenCounts = field(default_factory=TokenCounts)
    estimated: bool = False  # no usage was reported: the amount is the bound of what could have been used


@dataclass(frozen=True)
class SpendSummary:
    """A person's standing this period, as `/spend` shows it."""

    user: str
    period: Period
    spent: int
    cap: int | None  # None: unlimited
    held: int
    remaining: int | None  # None: unlimited
    resets_at: datetime | None
    global_remaining: int | None
    # spend per UTC day, oldest first, for the last days when `summary` was asked for them (/spend's chart)
    daily: tuple[tuple[date, int], ...] = ()


@dataclass(frozen=True)
class UserProfile:
    """The owner's settings for a person's account, and the person's names."""

    user: str
    model: str | None
    cap: int | None  # this person's own cap; None means the default
    unlimited: bool
    period: Period | None  # None means the default
    blocked: bool
    username: str | None
    display_name: str | None
    language: str | None = None  # the person's /lang choice; None: what their client reports


class CapReached(Refusal):
    """Not even a short answer fits what is left."""

    def __init__(self, remaining: int, resets_at: datetime | None, scope: Literal["user", "global"]) -> None:
        super().__init__(f"{scope} cap reached: {remaining} nano-dollars left")
        self.remaining = remaining
        self.resets_at = resets_at
        self.scope: Literal["user", "global"] = scope


class OwnerProtected(Refusal):
    """A block that would reach an owner: `user` is the owner `owner`, or shares an allowance with them."""

    def __init__(self, user: str, owner: str) -> None:
        super().__init__(f"{user} can't be blocked: the account holds the owner {owner}")
        self.user = user
        self.owner = owner


class Blocked(Refusal):
    """The owner blocked this account: refused at the access stage, and again at `reserve` (a block that
    lands while a question waits), so nothing is spent."""

    def __init__(self, user: str) -> None:
        super().__init__(f"{user} is blocked")
        self.user = user
