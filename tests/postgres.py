"""PostgreSQL for the tests that run on both databases, and for the benchmarks: the server named by
TEST_DATABASE_URL (tests skip with a stated reason without it), and a fresh schema per use."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest


def postgres_url() -> str:
    """TEST_DATABASE_URL; without it the calling test is skipped, saying why."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    return url


@asynccontextmanager
async def scratch_schema(database_url: str) -> AsyncIterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped afterwards: tests and benchmarks
    share one database and leave nothing behind in it."""
    import asyncpg  # the `postgres` extra

    schema = f"capbot_scratch_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        joiner = "&" if "?" in database_url else "?"
        yield f"{database_url}{joiner}search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
