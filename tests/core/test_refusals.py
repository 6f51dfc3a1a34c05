"""One way to say no: every kind of refusal, from whichever part of the bot, is a `Refusal` worded in one
line by `bot.wording.refusal`, and the core answers each with that line and changes nothing."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import bot.ledger
import bot.money
import bot.refusals
import bot.storage
from bot.refusals import Refusal
from bot.wording import UNEXPECTED, refusal
from tests.harness import OWNER, harness, meet, snapshot

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
# one instance of each kind, built the way its raiser builds it
EXAMPLES: dict[str, Any] = {
    "EmptyPrompt": bot.refusals.EmptyPrompt(),
    "UnknownModelChoice": bot.refusals.UnknownModelChoice("x/y", "it is not in the catalog"),
    "PromptTooLarge": bot.refusals.PromptTooLarge("x/y", 9000, 8000),
    "NotOwner": bot.refusals.NotOwner("cap"),
    "NotAllowed": bot.refusals.NotAllowed("telegram:7"),
    "NotPrivate": bot.refusals.NotPrivate("link"),
    "RateLimited": bot.refusals.RateLimited(30),
    "BadKey": bot.refusals.BadKey(),
    "Restarting": bot.refusals.Restarting(),
    "QueueFull": bot.refusals.QueueFull(20),
    "FileNotTaken": bot.refusals.FileNotTaken("too_big", Decimal("20")),
    "BadArguments": bot.refusals.BadArguments("Give an amount", "/cap <user> <amount>"),
    "ModelUnavailable": bot.refusals.ModelUnavailable("x/y", "overloaded"),
    "UnknownUser": bot.refusals.UnknownUser("@nobody"),
    "AmbiguousUser": bot.refusals.AmbiguousUser("@bob", ("telegram:2", "discord:2")),
    "CapReached": bot.ledger.CapReached(0, NOW, "user"),
    "CapReachedWithHistory": bot.refusals.CapReachedWithHistory(bot.ledger.CapReached(0, NOW, "user")),
    "Blocked": bot.ledger.Blocked("telegram:7"),
    "OwnerProtected": bot.ledger.OwnerProtected("discord:5", "telegram:1"),
    "LinkRefused": bot.ledger.LinkRefused("bad_code"),
    "UnknownKey": bot.refusals.UnknownKey("telegram:2", "7"),
    "TooManyKeys": bot.ledger.TooManyKeys("telegram:2", 20),
    "BadAttachment": bot.refusals.BadAttachment("the file is not an image, or it is damaged"),
    "TooManyImages": bot.refusals.TooManyImages(4),
    "AudioTooLong": bot.refusals.AudioTooLong(400, 300),
    "CannotSee": bot.refusals.CannotSee("deepseek/deepseek-chat", ("openai/gpt-4o-mini",)),
    "NoTranscription": bot.refusals.NoTranscription(),
    "DatabaseBusy": bot.storage.DatabaseBusy("locked"),
    "BadAmount": bot.money.BadAmount("'x' is not an amount of dollars"),
}


def _all_refusals() -> set[type[Refusal]]:
    found: set[type[Refusal]] = set()
    for module in (bot.refusals, bot.ledger, bot.storage, bot.money):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Refusal) and value is not Refusal:
                found.add(value)
    return found


def test_every_kind_of_refusal_has_an_example_here() -> None:
    assert {kind.__name__ for kind in _all_refusals()} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_refusal_is_one_worded_line(name: str) -> None:
    line = refusal(EXAMPLES[name], NOW)
    assert line and "\n" not in line
    assert line not in (UNEXPECTED, "That can't be done.")


async def test_a_refusal_from_deep_inside_is_one_private_line_and_changes_nothing(tmp_path: Path) -> None:
    """The ledger's OwnerProtected reaches the person through the core's one refusal path."""
    async with harness(tmp_path, owner_ids=(OWNER,)) as h:
        await meet(h.ledger, OWNER, "boss")
        before = await snapshot(h.db)
        reply = await h.say(f"/block {OWNER}")
        assert reply.lines == [f"{OWNER} is an owner; owners can't be blocked."]
        assert reply.private_lines == reply.lines
        assert await snapshot(h.db) == before
