"""`python -m bot users ...` on the bot's own database: same parsing and checks as the chat commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from tests.harness import CENT, DOLLAR, charge, harness, meet, snapshot


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/capbot.db")
    monkeypatch.setenv("OWNER_IDS", "telegram:1")
    yield tmp_path


async def seed(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await meet(h.ledger, "telegram:1", "boss")
        await meet(h.ledger, "telegram:2", "bob")
        await meet(h.ledger, "discord:3", "carol")
        await charge(h.ledger, "telegram:2", 30 * CENT, "openai/gpt-4o", input_tokens=100, output_tokens=10)
        await meet(h.ledger, "discord:5", "boss_dc")
        await h.ledger.link("telegram:1", "discord:5")  # the owner's other identity


async def state(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    async with harness(tmp_path) as h:
        return await snapshot(h.db)


def run(argv: list[str]) -> int:
    return main(["users", *argv])


def test_list_show_cap_block_unblock_usage(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    asyncio.run(seed(env))
    assert run(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 accounts; default cap $1.00 (monthly)"
    assert out[1].startswith("telegram:2 (@bob): $0.30")

    assert run(["cap", "@bob", "5", "weekly"]) == 0
    assert "of $5.00 per week" in capsys.readouterr().out
    assert run(["block", "discord:3"]) == 0
    assert "[blocked]" in capsys.readouterr().out
    assert run(["show", "discord:3"]) == 0
    assert "[blocked]" in capsys.readouterr().out
    assert run(["unblock", "@carol"]) == 0
    assert "[blocked]" not in capsys.readouterr().out
    assert run(["usage"]) == 0
    assert "openai/gpt-4o: 1 req, 100 in (0 cached), 10 out (0 reasoning), $0.30" in capsys.readouterr().out
    assert run(["usage", "@carol"]) == 0
    assert capsys.readouterr().out.strip() == "discord:3, this month: no usage."

    async def check() -> None:
        async with harness(env) as h:
            profile = await h.ledger.profile("telegram:2")
            assert (profile.cap, profile.period) == (5 * DOLLAR, "weekly")
            assert not (await h.ledger.profile("discord:3")).blocked

    asyncio.run(check())


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cap", "@bob", "-5"], "is not an amount of dollars"),
        (["cap", "@bob", "nan"], "is not an amount of dollars"),
        (["cap", "@bob", "99999999"], "more than the $1,000,000 limit"),
        (["cap", "@bob", "9" * 40], "more than the $1,000,000 limit"),
        (["cap", "@bob", "inf"], "is not an amount of dollars"),
        (["cap", "@bob", "five"], "is not an amount of dollars"),
        (["unblock", "@ghost"], "I don't know @ghost"),
        (["cap", "@bob", "0.0000000001"], "more than nine decimals"),
        (["cap", "@bob", "5", "yearly"], "'yearly' is not a period"),
        (["cap", "telegram:x", "5"], "I don't know telegram:x: use platform:id"),
        (["show", "@nobody"], "I don't know @nobody: nobody with that username has written"),
        (["block", "telegram:1"], "owners can't be blocked"),
        (["block", "discord:5"], "shares an allowance with the owner telegram:1; owners can't be blocked"),
        (["block", "bob"], "I don't know bob"),
        (["usage", "x:y"], "I don't know x:y"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_changes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    import asyncio

    asyncio.run(seed(env))
    before = asyncio.run(state(env))
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and expected in captured.err
    assert asyncio.run(state(env)) == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cap", "@bob"], "amount"),
        (["cap"], "user, amount"),
        (["show"], "user"),
        (["block"], "user"),
        (["unblock"], "user"),
        ([], "action"),
        (["frob"], "invalid choice"),
        (["cap", "@bob", "5", "daily", "extra"], "unrecognized arguments: extra"),
        (["usage", "@bob", "@carol"], "unrecognized arguments: @carol"),
    ],
)
def test_missing_or_extra_arguments_are_one_line_usage_errors(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    import asyncio

    asyncio.run(seed(env))
    before = asyncio.run(state(env))
    with pytest.raises(SystemExit) as exited:
        run(argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert expected in captured.err and "Usage: python -m bot" in captured.err
    assert asyncio.run(state(env)) == before


def test_unlink_splits_the_owners_other_identity_and_refuses_one_not_linked(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    asyncio.run(seed(env))
    before = asyncio.run(state(env))
    assert run(["unlink", "@bob"]) == 1
    assert capsys.readouterr().err.strip() == (
        "capbot: That identity shares no allowance with anyone; there is nothing to unlink."
    )
    assert asyncio.run(state(env)) == before
    assert run(["unlink", "@boss_dc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("telegram:1 (@boss): $0.00 this month") and "linked with" not in out[0]
    assert out[1].startswith("discord:5 (@boss_dc): $0.00 this month")
    assert run(["unlink", "discord:5"]) == 1  # done: nothing left to split
