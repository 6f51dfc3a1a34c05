"""Migrations when many processes start at once, on a schema newer than this release, and on demand."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot.storage import DatabaseError, open_database
from bot.storage.migrations import MIGRATIONS
from tests.postgres import postgres_url, scratch_schema
from tests.processes import process_environment

LATEST = len(MIGRATIONS)


async def _version(url: str) -> int:
    db = await open_database(url)
    try:
        row = await db.fetchone("SELECT MAX(version) AS v FROM schema_version")
        assert row is not None
        return int(row["v"])
    finally:
        await db.close()


async def _migrate_at_once(url: str, count: int, cwd: Path) -> list[str]:
    """`count` real `python -m bot db migrate` processes started together on `url`; each must exit 0.
    Returns what each printed."""
    env = process_environment(DATABASE_URL=url)
    pipe = asyncio.subprocess.PIPE
    argv = (sys.executable, "-m", "bot", "db", "migrate")
    started = [
        await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdout=pipe, stderr=pipe)
        for _ in range(count)
    ]
    results = await asyncio.gather(*(p.communicate() for p in started))
    assert [p.returncode for p in started] == [0] * count, [err.decode() for _, err in results]
    return [out.decode() for out, _ in results]


async def test_eight_processes_opening_a_fresh_postgres_database_at_once_all_come_up(tmp_path: Path) -> None:
    """Eight real `python -m bot db migrate` processes at once on a fresh database, as a deploy starts
    them: all come up, and each version is applied once (they used to die on `schema_version`)."""
    async with scratch_schema(postgres_url()) as url:
        outputs = await _migrate_at_once(url, 8, tmp_path)
        assert all(out.startswith(f"schema at version {LATEST}") for out in outputs)
        assert await _version(url) == LATEST


async def test_eight_pools_opening_a_fresh_postgres_database_at_once_all_come_up() -> None:
    """Each open is its own pool, as separate processes' are; all migrate (or find it done) at once."""
    async with scratch_schema(postgres_url()) as url:
        versions = await asyncio.gather(*(_version(url) for _ in range(8)))
        assert versions == [LATEST] * 8
        db = await open_database(url)
        try:
            rows = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
        finally:
            await db.close()
        assert [int(r["version"]) for r in rows] == list(range(1, LATEST + 1))  # each applied once


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_schema_newer_than_this_release_is_refused_in_one_line(kind: str, tmp_path: Path) -> None:
    async def check(url: str) -> None:
        db = await open_database(url)
        await db.execute("INSERT INTO schema_version (version) VALUES (?)", LATEST + 1)
        await db.close()
        with pytest.raises(DatabaseError) as refused:
            await open_database(url)
        message = str(refused.value)
        assert "\n" not in message
        assert f"schema version {LATEST + 1}" in message and f"knows up to {LATEST}" in message

    if kind == "sqlite":
        await check(f"sqlite:///{tmp_path}/capbot.db")
    else:
        async with scratch_schema(postgres_url()) as url:
            await check(url)


async def test_processes_opening_one_fresh_sqlite_file_at_once_all_come_up(tmp_path: Path) -> None:
    """Two bot processes on one SQLite file (a console beside a bot, two shards on one machine) used to
    race: the second one's open failed with "database is locked" while the first one migrated."""
    url = f"sqlite:///{tmp_path / 'capbot.db'}"
    await _migrate_at_once(url, 6, tmp_path)
    assert await _version(url) == LATEST
