"""Deliveries are claimed once: in this process, after a restart on the same database, on both
databases; claims are forgotten after a day."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.deliveries import REMEMBERED, Deliveries
from bot.storage import Database, open_database
from tests.doubles import Clock


async def test_a_delivery_is_claimed_once_even_after_a_restart(database_url: str) -> None:
    clock = Clock()
    db: Database = await open_database(database_url)
    try:
        deliveries = Deliveries(db, clock)
        first = await asyncio.gather(*(deliveries.claim("telegram:1:10") for _ in range(5)))
        assert sorted(first) == [False] * 4 + [True]  # claimed at once five times: one wins
        assert await deliveries.claim("telegram:1:11")
    finally:
        await db.close()
    db = await open_database(database_url)  # a restart: a new process on the same database
    try:
        restarted = Deliveries(db, clock)
        assert not await restarted.claim("telegram:1:10")
        assert await restarted.claim("telegram:1:12")
    finally:
        await db.close()


async def test_claims_are_kept_a_day_and_remembered_past_memory(tmp_path: Path) -> None:
    clock = Clock()
    db = await open_database(f"sqlite:///{tmp_path}/capbot.db")
    try:
        deliveries = Deliveries(db, clock)
        assert await deliveries.claim("old")
        for n in range(REMEMBERED + 1):  # "old" falls out of memory; the table still knows it
            assert await deliveries.claim(f"k{n}")
        assert not await deliveries.claim("old")
        clock.advance(days=1, hours=1)
        assert await deliveries.claim("new")  # prunes what is more than a day old
        rows = await db.fetchall("SELECT delivery FROM deliveries")
        assert [r["delivery"] for r in rows] == ["new"]
    finally:
        await db.close()
