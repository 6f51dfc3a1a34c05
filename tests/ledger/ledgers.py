"""What the ledger tests share: a ledger on a database from the `opener` fixture (tests/ledger/conftest.py),
standard quotes, and the sums the tests compare the ledger's own figures with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from bot.ledger import ChargeDetail, Ledger, Quote
from bot.storage import Database
from bot.tokens import TokenCounts
from tests.doubles import Clock
from tests.harness import CENT

DETAIL = ChargeDetail(model="test/model", tokens=TokenCounts(input_tokens=10, output_tokens=20))

Opener = Callable[[], Awaitable[Database]]


def make_ledger(db: Database, clock: Clock, cap: int = 10 * CENT, **kw: object) -> Ledger:
    return Ledger(db, default_cap_nanos=cap, default_period="daily", clock=clock, **kw)  # type: ignore[arg-type]


def quote(
    max_output: int = 1000, per_token: str = "1000", input_nanos: int = 100_000, minimum: int = 16
) -> Quote:
    return Quote(input_nanos, Decimal(per_token), max_output, minimum)


async def charges_sum(db: Database, user: str) -> int:
    row = await db.fetchone("SELECT COALESCE(SUM(cost), 0) AS s FROM charges WHERE user_id = ?", user)
    assert row is not None
    return int(row["s"])


async def open_holds(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) AS n FROM holds")
    assert row is not None
    return int(row["n"])
