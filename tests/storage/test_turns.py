"""Turns: one key's work in the order it lined up, across every process on one PostgreSQL database.

Each `open_database` below is a pool of its own, as a separate process's is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.storage import Database, open_database
from bot.storage.base import Turn
from tests.postgres import postgres_url, scratch_schema


async def _work(turn: Turn, name: str, done: list[str], release: asyncio.Event | None = None) -> None:
    """Take the turn, record it, hold it until `release` (if given), and close it."""
    try:
        await turn.taken()
        done.append(name)
        if release is not None:
            await release.wait()
    finally:
        await turn.close()


async def test_turns_of_one_key_are_taken_in_the_order_they_lined_up_across_processes() -> None:
    async with scratch_schema(postgres_url()) as url:
        first, second = await open_database(url), await open_database(url)
        try:
            done: list[str] = []
            release = asyncio.Event()
            lined = [
                await first.line_up("telegram:1"),
                await second.line_up("telegram:1"),
                await first.line_up("telegram:1"),
                await second.line_up("telegram:1"),
            ]
            left = await first.line_up("telegram:1")  # leaves the line before its turn: nobody waits for it
            last = await second.line_up("telegram:1")
            holding = asyncio.ensure_future(_work(lined[0], "a", done, release))
            others = [asyncio.ensure_future(_work(t, n, done)) for t, n in zip(lined[1:], "bcd", strict=True)]
            await left.close()
            closing = asyncio.ensure_future(_work(last, "f", done))
            async with first.turn("telegram:2"):  # another key never waits for this line
                done.append("other key")
            release.set()
            await asyncio.gather(holding, *others, closing)
            assert done == ["a", "other key", "b", "c", "d", "f"]
            async with second.turn("telegram:1"):  # nothing was left locked
                pass
        finally:
            await first.close()
            await second.close()


async def test_a_turn_leaves_reads_and_writes_their_own_connections() -> None:
    """With DATABASE_POOL_SIZE=1 a held turn still lets the ledger's pool work."""
    async with scratch_schema(postgres_url()) as url:
        db = await open_database(url, pool_size=1)
        try:
            async with db.turn("telegram:1"):
                await db.execute("INSERT INTO global_state (id, held) VALUES (2, 0)")
                row = await db.fetchone("SELECT COUNT(*) AS n FROM global_state")
            assert row is not None and int(row["n"]) == 2
        finally:
            await db.close()


async def test_bots_in_separate_schemas_never_share_a_line() -> None:
    async with scratch_schema(postgres_url()) as one, scratch_schema(postgres_url()) as two:
        first, second = await open_database(one), await open_database(two)
        try:
            async with first.turn("telegram:1"), second.turn("telegram:1"):
                pass  # both held at once
        finally:
            await first.close()
            await second.close()


async def test_on_sqlite_a_turn_is_taken_at_once(tmp_path: Path) -> None:
    db: Database = await open_database(f"sqlite:///{tmp_path / 'capbot.db'}")
    try:
        async with db.turn("telegram:1"), db.turn("telegram:1"):
            pass  # one process: in-process order is the order, nothing to wait for
    finally:
        await db.close()
