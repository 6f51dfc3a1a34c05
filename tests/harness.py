"""Helpers for the owner-control tests: a core on a temporary database, charges, snapshots, invariants."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.core import Core, open_core
from bot.ledger import GLOBAL, ChargeDetail, Hold, Ledger, Quote, all_keys
from bot.storage import DAY_SECONDS, ROLLUP_COLUMNS, Database
from bot.tokens import TokenCounts
from tests.doubles import Clock, RecordingReply, message

CENT = 10_000_000  # nano-dollars
DOLLAR = 100 * CENT
OWNER = "telegram:1"


@dataclass
class Harness:
    core: Core
    clock: Clock
    settings: Settings

    @property
    def ledger(self) -> Ledger:
        return self.core.services.ledger

    @property
    def db(self) -> Database:
        return self.core.services.ledger.db

    async def say(self, text: str, user: str = OWNER, **kw: Any) -> RecordingReply:
        reply = RecordingReply()
        await self.core.handle(message(text, user=user, **kw), reply)
        return reply


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "database_url": f"sqlite:///{tmp_path}/capbot.db",
        "owner_ids": (OWNER,),
        "default_cap_usd": Decimal("1"),
        "cap_period": "monthly",
        "rate_limit_per_minute": 1000,
    }
    values.update(overrides)
    return load_settings(**values)


@asynccontextmanager
async def harness(tmp_path: Path, clock: Clock | None = None, **overrides: Any) -> AsyncIterator[Harness]:
    clock = clock or Clock()
    settings = settings_for(tmp_path, **overrides)
    async with open_core(settings, clock=clock) as core:
        yield Harness(core, clock, settings)


async def charge(
    ledger: Ledger,
    user: str,
    cost: int,
    model: str = "openai/gpt-4o-mini",
    *,
    input_tokens: int = 0,
    cache_read_tokens: int = 0,
    output_tokens: int = 0,
    reasoning_tokens: int = 0,
    absorbed: int = 0,
) -> int:
    """Spend through the real reserve → settle path, as /ask does (`absorbed`: reported beyond the hold)."""
    hold = await ledger.reserve(user, Quote(cost, Decimal(0), 100, 16))
    tokens = TokenCounts(
        input_tokens=input_tokens,
        cache_read_tokens=cache_read_tokens,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning_tokens,
    )
    detail = ChargeDetail(model=model, tokens=tokens)
    return await ledger.settle(hold, cost + absorbed, detail)


@dataclass(frozen=True)
class Reserved:
    """One hold the ledger granted, with the quote it was asked for."""

    quote: Quote
    hold: Hold

    def bound_of(self, received: str) -> int:
        """What an answer that ended without usage after `received` may be charged: the input at its bound
        plus one output token per UTF-8 byte received at the dearest output rate, rounded up, at most the
        hold (spelled out here rather than taken from the bot)."""
        output = math.ceil(self.quote.output_nanos_per_token * len(received.encode("utf-8")))
        return min(self.hold.amount, self.quote.input_nanos + output)


def spy_reserves(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[Reserved]:
    """Every hold the ledger grants from now on, with its quote, to compare charges with."""
    granted: list[Reserved] = []
    reserve = h.ledger.reserve

    async def spy(user: str, quote: Quote) -> Hold:
        hold = await reserve(user, quote)
        granted.append(Reserved(quote, hold))
        return hold

    monkeypatch.setattr(h.ledger, "reserve", spy)
    return granted


async def meet(ledger: Ledger, user: str, username: str | None = None) -> None:
    """The bot has seen this person (as the access stage records them)."""
    await ledger.remember_names(user, username, None)


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Everything an owner command could change."""
    tables = {
        "users": "SELECT * FROM users ORDER BY user_id",
        "totals": "SELECT * FROM totals ORDER BY scope, period_key",
        "holds": "SELECT * FROM holds ORDER BY id",
        "charges": "SELECT * FROM charges ORDER BY id",
        "links": "SELECT * FROM links ORDER BY identity",
        "link_codes": "SELECT * FROM link_codes ORDER BY code_hash",
        "global_state": "SELECT * FROM global_state",
        "api_keys": "SELECT * FROM api_keys ORDER BY id",
    }
    return {name: [dict(r) for r in await db.fetchall(sql)] for name, sql in tables.items()}


ROLLED = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


async def check_rollups(db: Database) -> None:
    """Per scope (each account and everyone), UTC day and model, the rollups are exactly the charges: their
    count, every token count, the cost and what the owner absorbed."""
    expected: dict[tuple[str, int, str], list[int]] = {}
    for row in await db.fetchall("SELECT * FROM charges"):
        day = int(row["created_at"]) // DAY_SECONDS * DAY_SECONDS
        for scope in (str(row["user_id"]), GLOBAL):
            sums = expected.setdefault((scope, day, str(row["model"])), [0] * 8)
            for n, value in enumerate(
                (1, *(int(row[c]) for c in ROLLED), int(row["cost"]), int(row["absorbed"]))
            ):
                sums[n] += value
    found = {
        (str(r["scope"]), int(r["day"]), str(r["model"])): [int(r[c]) for c in ROLLUP_COLUMNS]
        for r in await db.fetchall("SELECT * FROM rollups")
    }
    assert found == expected


async def check_invariants(ledger: Ledger) -> None:
    """Per account and period key: spent == sum of charges; held == sum of open holds; the usage rollups
    are exactly the charges."""
    db = ledger.db
    expected: dict[tuple[str, str], int] = {}
    for row in await db.fetchall("SELECT user_id, cost, created_at FROM charges"):
        moment = datetime.fromtimestamp(int(row["created_at"]), UTC)
        for key in all_keys(moment):
            for scope in (str(row["user_id"]), GLOBAL):
                expected[(scope, key)] = expected.get((scope, key), 0) + int(row["cost"])
    totals = {
        (str(r["scope"]), str(r["period_key"])): int(r["spent"])
        for r in await db.fetchall("SELECT scope, period_key, spent FROM totals")
    }
    assert {k: v for k, v in totals.items() if v} == {k: v for k, v in expected.items() if v}
    held: dict[str, int] = {}
    for row in await db.fetchall("SELECT user_id, amount FROM holds"):
        held[str(row["user_id"])] = held.get(str(row["user_id"]), 0) + int(row["amount"])
    for row in await db.fetchall("SELECT user_id, held FROM users"):
        assert int(row["held"]) == held.get(str(row["user_id"]), 0), row["user_id"]
    await check_rollups(db)
    linked = {str(r["identity"]) for r in await db.fetchall("SELECT identity FROM links")}
    for row in await db.fetchall("SELECT DISTINCT user_id FROM charges"):
        assert str(row["user_id"]) not in linked, "a charge left behind on an absorbed account"
