"""Moving a ledger between databases (SQLite → PostgreSQL): every row out to a file, into an empty
database, and the money checked on arrival.

The file is JSON lines: a header naming the schema version, then one line per row (`{"table", "row"}`),
so a large ledger streams instead of sitting in memory. Amounts are the integers the tables hold, so
nothing is rounded on the way. Import refuses a database that already holds accounts or charges (merging
two ledgers would double-count), writes everything in one transaction, moves PostgreSQL's id sequences past
the imported ids, and compares what it wrote with what the file said before committing: rows per table,
the sum of charges per account, every running total and every usage rollup, and that the rollups are
exactly what the charges add up to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from bot.storage.base import Database, DatabaseError, Tx
from bot.storage.migrations import MIGRATIONS

FORMAT = "capbot-ledger"
DAY_SECONDS = 86_400  # a usage rollup's day in seconds (UTC days: epoch time has no leap seconds)
# The summed columns of a usage rollup (`bot.ledger.rollups` writes them; the arrival check compares them).
ROLLUP_COLUMNS = (
    "requests",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "absorbed",
)
K = TypeVar("K")
# Every table that holds the ledger or the conversations, in an order that never refers forward.
# `instances` (heartbeats of running processes), `answers_in_flight`, `deliveries` and `schema_version` are
# the running processes' and the database's own.
TABLES = (
    "users",
    "global_state",
    "totals",
    "links",
    "link_codes",
    "api_keys",
    "holds",
    "charges",
    "rollups",
    "messages",
)
# Tables whose ids come from a sequence on PostgreSQL (BIGSERIAL): continued past the imported ones.
SEQUENCED = ("api_keys", "holds", "charges", "messages")


@dataclass(frozen=True)
class Tally:
    """What a ledger holds, to compare two copies of it: rows per table and the money in them."""

    rows: dict[str, int]
    charged: dict[str, int]  # sum of charges per account
    totals: dict[tuple[str, str], int]  # running totals by (scope, period key)
    rollups: dict[tuple[str, int, str, str], int]  # usage rollups by (scope, day, model, column)
    rolled_up: dict[tuple[str, int, str, str], int]  # what the charges add up to, keyed as `rollups`

    def differences(self, other: Tally) -> list[str]:
        """What differs, one short line each (empty when the two ledgers agree)."""
        return [
            *_differences("rows of", self.rows, other.rows),
            *_differences("charges of", self.charged, other.charged),
            *_differences("total", self.totals, other.totals),
            *_differences("rollup", self.rollups, other.rollups),
        ]

    def unbalanced(self) -> list[str]:
        """Where the usage rollups are not exactly the sum of the charges (empty when they agree)."""
        return list(_differences("rollup", self.rolled_up, self.rollups))


def _differences(what: str, mine: Mapping[K, int], theirs: Mapping[K, int]) -> Iterator[str]:
    for key in sorted(set(mine) | set(theirs), key=str):
        if mine.get(key, 0) != theirs.get(key, 0):
            yield f"{what} {key}: expected {mine.get(key, 0)}, found {theirs.get(key, 0)}"


def _tally(rows: Iterable[tuple[str, dict[str, Any]]]) -> Tally:
    counts: dict[str, int] = dict.fromkeys(TABLES, 0)
    charged: dict[str, int] = {}
    totals: dict[tuple[str, str], int] = {}
    rolls: dict[tuple[str, int, str, str], int] = {}
    rolled_up: dict[tuple[str, int, str, str], int] = {}
    for table, row in rows:
        counts[table] += 1
        if table == "charges":
            charged[str(row["user_id"])] = charged.get(str(row["user_id"]), 0) + int(row["cost"])
            day = int(row["created_at"]) - int(row["created_at"]) % DAY_SECONDS
            for scope in (str(row["user_id"]), "*"):
                for column, value in zip(ROLLUP_COLUMNS, _as_rollup(row), strict=True):
                    key = (scope, day, str(row["model"]), column)
                    rolled_up[key] = rolled_up.get(key, 0) + value
        elif table == "totals":
            totals[(str(row["scope"]), str(row["period_key"]))] = int(row["spent"])
        elif table == "rollups":
            for column in ROLLUP_COLUMNS:
                rolls[(str(row["scope"]), int(row["day"]), str(row["model"]), column)] = int(row[column])
    return Tally(counts, charged, totals, rolls, rolled_up)


def _as_rollup(charge: Mapping[str, Any]) -> tuple[int, ...]:
    """One charge as the rollup columns count it (`ROLLUP_COLUMNS`)."""
    return (
        1,
        *(
            int(charge[c])
            for c in (
                "input_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
                "cost",
                "absorbed",
            )
        ),
    )


async def _rows(reader: Database | Tx) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for table in TABLES:
        order = "id" if table in SEQUENCED else "1"
        for row in await reader.fetchall(f"SELECT * FROM {table} ORDER BY {order}"):
            found.append((table, dict(row)))
    return found


async def export_ledger(db: Database, out: TextIO) -> Tally:
    """Write every row of the ledger to `out`; returns what was written, for the caller to report."""
    rows = await _rows(db)
    out.write(json.dumps({"format": FORMAT, "schema_version": len(MIGRATIONS)}) + "\n")
    for table, row in rows:
        out.write(json.dumps({"table": table, "row": row}, ensure_ascii=False) + "\n")
    return _tally(rows)


def _read(source: TextIO) -> Iterator[tuple[str, dict[str, Any]]]:
    header = json.loads(source.readline() or "{}")
    if header.get("format") != FORMAT:
        raise DatabaseError("import: the file is not a capbot ledger export")
    if header.get("schema_version") != len(MIGRATIONS):
        raise DatabaseError(
            f"import: the file is of schema version {header.get('schema_version')}; this capbot writes "
            f"{len(MIGRATIONS)} (export and import with the same release)"
        )
    for number, line in enumerate(source, start=2):
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("table") not in TABLES or not isinstance(item.get("row"), dict):
            raise DatabaseError(f"import: line {number} is not a row of a ledger table")
        yield item["table"], item["row"]


async def import_ledger(db: Database, source: TextIO) -> Tally:
    """Load an export into `db`, which must hold no accounts or charges yet; all or nothing.

    Raises `DatabaseError` (one line) for a file that is not an export, a non-empty database, or a
    ledger that does not add up after the load (then nothing is kept).
    """
    rows = list(_read(source))
    expected = _tally(rows)
    async with db.write() as tx:
        for table in ("users", "charges", "holds"):
            found = await tx.fetchone(f"SELECT COUNT(*) AS n FROM {table}")
            if found is not None and int(found["n"]):
                raise DatabaseError(f"import: the database already has {table}; import into an empty one")
        await tx.execute("DELETE FROM global_state")  # the migration's own starting row is replaced
        for table, row in rows:
            columns = list(row)
            marks = ", ".join("?" for _ in columns)
            await tx.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", *(row[c] for c in columns)
            )
        if db.dialect == "postgres":
            for table in SEQUENCED:
                await tx.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
        arrived = _tally(await _rows(tx))
        problems = expected.differences(arrived) or arrived.unbalanced()
        if problems:  # raising rolls the whole load back
            raise DatabaseError(f"import: the ledger did not arrive whole ({problems[0]}); nothing was kept")
    return arrived
