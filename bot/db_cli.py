"""`python -m bot db migrate|export|import`: the owner's hands on the database itself.

`migrate` brings the schema to this release's version on its own (for a deploy's release step; every bot
process also migrates at start, taking turns). `export FILE` writes the ledger and the conversations of
DATABASE_URL to a file; `import FILE` loads such a file into the (empty) database DATABASE_URL names and
checks the money on arrival: the way from SQLite to PostgreSQL is an export with one URL and an import
with the other. Each prints one line of what it did; a refusal is one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from contextlib import AbstractContextManager
from typing import TextIO

from bot.cli import OneLineParser
from bot.config import Settings
from bot.storage import SCHEMA_VERSION, DatabaseError, Tally, export_ledger, import_ledger, open_database


def add_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register `db` and its sub-commands on the main parser."""
    db = sub.add_parser("db", help="the database: migrate, export, import")
    act = db.add_subparsers(dest="action", required=True)
    act.add_parser("migrate", help="bring the schema of DATABASE_URL to this release's version")
    act.add_parser("export", help="write the ledger and conversations of DATABASE_URL to FILE").add_argument(
        "file", help="where to write (JSON lines; '-' for standard output)"
    )
    act.add_parser("import", help="load an export into the empty database DATABASE_URL").add_argument(
        "file", help="an export written by `db export` ('-' for standard input)"
    )


async def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out one `db` action; 0 when done, 1 (one line on stderr) when refused."""
    out = out or sys.stdout
    try:
        db = await open_database(
            settings.database_url, pool_size=settings.database_pool_size
        )  # migrates, in turn with any other process
    except DatabaseError as exc:
        print(f"capbot: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "migrate":
            print(f"schema at version {SCHEMA_VERSION}, this release's", file=out)
        elif args.action == "export":
            with _opened(args.file, writing=True) as target:
                tally = await export_ledger(db, target)
            print(f"exported {_summary(tally)}", file=out if args.file != "-" else sys.stderr)
        else:
            with _opened(args.file, writing=False) as source:
                tally = await import_ledger(db, source)
            print(f"imported {_summary(tally)}; the totals match the file", file=out)
        return 0
    except (DatabaseError, OSError, ValueError) as exc:
        print(f"capbot: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.close()


def _opened(name: str, writing: bool) -> AbstractContextManager[TextIO]:
    """A file by path, or standard input/output for '-' (left open: it is not ours to close)."""
    if name == "-":
        return contextlib.nullcontext(sys.stdout if writing else sys.stdin)
    return open(name, "w" if writing else "r", encoding="utf-8")


def _summary(tally: Tally) -> str:
    rows = sum(tally.rows.values())
    accounts = tally.rows.get("users", 0)
    charges = tally.rows.get("charges", 0)
    return f"{rows} rows ({accounts} accounts, {charges} charges, {sum(tally.charged.values())} nano-dollars)"
