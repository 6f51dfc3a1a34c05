"""`python -m bot db export` / `db import`: a SQLite ledger moved into PostgreSQL arrives whole, and the
money is checked on arrival."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot import db_cli
from bot.__main__ import _parser, main
from bot.config import load_settings
from bot.ledger import Quote
from bot.providers.base import ChatMessage
from bot.storage import open_database
from bot.storage.transfer import TABLES
from tests.harness import CENT, charge, check_invariants, harness, meet
from tests.postgres import postgres_url, scratch_schema


async def _seed(tmp_path: Path) -> None:
    """A ledger with something in every table: accounts, a link, charges, an open hold, a conversation."""
    async with harness(tmp_path) as h:
        await meet(h.ledger, "telegram:2", "bob")
        await meet(h.ledger, "discord:3", "bob_dc")
        await charge(h.ledger, "telegram:2", 3 * CENT, "openai/gpt-4o", input_tokens=100, output_tokens=20)
        await h.ledger.link("telegram:2", "discord:3")
        await charge(h.ledger, "discord:3", 2 * CENT, "openai/gpt-4o-mini", input_tokens=10, output_tokens=5)
        await h.say("/cap telegram:9 5 weekly")
        await h.ledger.issue_code("telegram:9")
        await h.ledger.create_key("telegram:2", "laptop")
        revoked = await h.ledger.create_key("discord:3")
        await h.ledger.revoke_key("discord:3", str(revoked.id))
        await h.core.services.conversations.append(
            "t:telegram:2", [ChatMessage("user", "héllo"), ChatMessage("assistant", "hi ✓")]
        )
        await h.ledger.reserve("telegram:9", Quote(CENT, Decimal(0), 10, 1))  # an answer in progress


async def _table_rows(url: str) -> dict[str, list[dict[str, object]]]:
    db = await open_database(url)
    try:
        found = {}
        for table in TABLES:
            rows = await db.fetchall(f"SELECT * FROM {table}")
            found[table] = sorted((dict(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))
        return found
    finally:
        await db.close()


def test_a_sqlite_ledger_moves_into_postgres_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seed(tmp_path))
    sqlite_url = f"sqlite:///{tmp_path}/capbot.db"
    export = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["db", "export", str(export)]) == 0
    assert capsys.readouterr().out.startswith("exported ")

    async def db(*argv: str) -> int:  # `python -m bot db ...` inside this test's event loop
        return await db_cli.run(load_settings(_env_file=None), _parser().parse_args(["db", *argv]))

    async def move() -> None:
        async with scratch_schema(postgres_url()) as pg_url:
            monkeypatch.setenv("DATABASE_URL", pg_url)
            assert await db("migrate") == 0
            assert await db("import", str(export)) == 0
            out = capsys.readouterr().out
            assert "imported" in out and "the totals match the file" in out
            assert await _table_rows(pg_url) == await _table_rows(sqlite_url)
            assert len((await _table_rows(pg_url))["api_keys"]) == 2
            # the imported ledger is a working one: new ids follow the imported ones, invariants hold
            async with harness(tmp_path / "pg", database_url=pg_url) as h:
                await charge(h.ledger, "telegram:2", CENT)
                await check_invariants(h.ledger)
                assert (await h.ledger.create_key("telegram:2")).id == 3  # after the imported keys
            # a second import into the now non-empty database is refused and changes nothing
            before = await _table_rows(pg_url)
            assert await db("import", str(export)) == 1
            assert "already has users; import into an empty one" in capsys.readouterr().err
            assert await _table_rows(pg_url) == before

    asyncio.run(move())


def test_a_file_that_is_not_an_export_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/capbot.db")
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"hello": 1}\n', encoding="utf-8")
    assert main(["db", "import", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert err == "capbot: import: the file is not a capbot ledger export\n"
