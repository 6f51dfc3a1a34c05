"""The ledger tests' database fixture: every test that takes `opener` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.storage import Database, open_database
from tests.ledger.ledgers import Opener
from tests.postgres import postgres_url, scratch_schema


@pytest.fixture(params=["sqlite", "postgres"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens databases of one kind; every database a test opens is the same one."""
    opened: list[Database] = []
    async with AsyncExitStack() as stack:
        url = f"sqlite:///{tmp_path}/ledger.db"
        if request.param == "postgres":
            url = await stack.enter_async_context(scratch_schema(postgres_url()))

        async def open_one() -> Database:
            opened.append(await open_database(url))
            return opened[-1]

        yield open_one
        for db in opened:  # before a scratch schema is dropped
            await db.close()
