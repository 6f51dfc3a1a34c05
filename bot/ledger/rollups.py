"""Usage rollups: per UTC day, per scope (an account, or everyone) and per model, what the charges add up to.

Every write that creates or moves charges updates them in its own transaction (a settle adds one charge to
its account's row and to everyone's; a merge moves the absorbed account's rows along with its charges), so
per scope, day and model a rollup is always exactly the sum of the charges, and a usage report reads one
row per day and model however many charges there were. A day is the UTC calendar day of the charge's
`created_at` (the moment its hold was reserved, as for the running totals), stored as that day's midnight
in epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.ledger.records import ChargeDetail
from bot.storage import DAY_SECONDS, ROLLUP_COLUMNS, Database, Row, Tx

# The summed columns of a rollup, in the order `roll_up` writes them (the ledger export checks the same ones).
COLUMNS = ROLLUP_COLUMNS
_ROW = f"(?, ?, ?, {', '.join('?' for _ in COLUMNS)})"
_ON_CONFLICT = " ON CONFLICT (scope, day, model) DO UPDATE SET " + ", ".join(
    f"{c} = rollups.{c} + excluded.{c}" for c in COLUMNS
)


def _upsert(rows: int) -> str:
    """Add `rows` rows of values to the rollups in one statement."""
    return (
        f"INSERT INTO rollups (scope, day, model, {', '.join(COLUMNS)}) VALUES "
        + ", ".join(_ROW for _ in range(rows))
        + _ON_CONFLICT
    )


def day_of(timestamp: int) -> int:
    """The midnight (UTC, epoch seconds) of the day a moment falls in."""
    return timestamp - timestamp % DAY_SECONDS


async def roll_up(
    tx: Tx, scopes: Sequence[str], created_at: int, detail: ChargeDetail, cost: int, absorbed: int
) -> None:
    """Add one charge to the rollups of each scope (its account and everyone), inside the settle's write."""
    tokens = detail.tokens
    values = (
        1,
        tokens.input_tokens,
        tokens.cache_read_tokens,
        tokens.cache_write_tokens,
        tokens.output_tokens,
        tokens.reasoning_tokens,
        cost,
        absorbed,
    )
    day = day_of(created_at)
    await tx.execute(
        _upsert(len(scopes)), *(value for scope in scopes for value in (scope, day, detail.model, *values))
    )


async def move_rollups(tx: Tx, gone: str, keep: str) -> None:
    """Fold `gone`'s rollups into `keep`'s, row by row, as a merge moves its charges (same transaction)."""
    rows = await tx.fetchall(f"SELECT day, model, {', '.join(COLUMNS)} FROM rollups WHERE scope = ?", gone)
    for row in rows:
        await tx.execute(_upsert(1), keep, row["day"], row["model"], *(int(row[c]) for c in COLUMNS))
    await tx.execute("DELETE FROM rollups WHERE scope = ?", gone)


async def charges_between(reader: Database, account: str | None, start: int, end: int) -> list[Row]:
    """Per model, the charges of one account (None: everyone) in [start, end), summed as rollups are: for
    the part of a day a report starts in (less than a day of charges, found by their time index)."""
    who = "" if account is None else "user_id = ? AND "
    return await reader.fetchall(
        "SELECT model, COUNT(*) AS requests, SUM(input_tokens) AS input_tokens,"
        " SUM(cache_read_tokens) AS cached_tokens, SUM(cache_write_tokens) AS cache_write_tokens,"
        " SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens,"
        " SUM(cost) AS cost, SUM(absorbed) AS absorbed"
        f" FROM charges WHERE {who}created_at >= ? AND created_at < ? GROUP BY model",
        *([] if account is None else [account]),
        start,
        end,
    )
