"""The access stage: allowlist, blocked people, rate limits (injectable clock), owners exempt."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.access import Gate
from bot.commands import BY_NAME
from bot.refusals import RateLimited
from tests.doubles import message
from tests.harness import OWNER, charge, harness, snapshot

BOB = "telegram:2"


async def test_allowlist_mode_tells_strangers_their_id(tmp_path: Path) -> None:
    async with harness(tmp_path, allowed_users=("telegram:2",)) as h:
        before = await snapshot(h.db)
        reply = await h.say("/spend", user="telegram:66", username="eve")
        assert reply.lines == ["This bot is private. Send your id telegram:66 to its owner to be let in."]
        assert reply.private_lines == reply.lines
        assert await snapshot(h.db) == before  # not even the name was stored
        assert "Spent" in (await h.say("/spend", user=BOB)).last
        assert "Spent" in (await h.say("/spend", user=OWNER)).last


async def test_allowlist_strangers_get_the_private_line_for_owner_commands_too(tmp_path: Path) -> None:
    async with harness(tmp_path, allowed_users=("telegram:2",)) as h:
        await h.ledger.remember_names(BOB, "bob", None)
        before = await snapshot(h.db)
        for text in ("/cap telegram:2 5", "/block @bob", "/users", "/link telegram:2 telegram:66", "hello"):
            reply = await h.say(text, user="telegram:66")
            assert reply.lines == ["This bot is private. Send your id telegram:66 to its owner to be let in."]
        # an allowed person who is not an owner is told the command is the owner's
        assert (await h.say("/cap telegram:2 5", user=BOB)).lines == ["/cap is for the bot's owner only."]
        assert await snapshot(h.db) == before


async def test_open_mode_anyone_gets_the_default_allowance(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert "of your $1.00 cap" in (await h.say("/spend", user="discord:77")).last


async def test_blocked_people_get_one_line_and_owners_are_never_blocked(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        await h.ledger.set_blocked(BOB, True)
        await h.ledger.set_blocked(OWNER, True)  # set behind the commands' back: still an owner
        for text in ("/spend", "/ask hi", "hello", "/link"):
            assert (await h.say(text, user=BOB)).lines == ["You are blocked from using this bot."]
        assert "Spent" in (await h.say("/spend", user=OWNER)).last


async def test_rate_limit_per_minute_says_when_and_owners_are_exempt(tmp_path: Path) -> None:
    async with harness(tmp_path, rate_limit_per_minute=3) as h:
        for _ in range(3):
            assert "Spent" in (await h.say("/spend", user=BOB)).last
            h.clock.advance(seconds=5)
        before = await snapshot(h.db)
        refused = await h.say("/link", user=BOB)
        assert refused.lines == ["Too many requests; try again in 45 s."]
        assert await snapshot(h.db) == before  # no link code was issued
        for _ in range(10):
            assert "Spent" in (await h.say("/spend", user=OWNER)).last
        assert "Spent" in (await h.say("/spend", user="telegram:3")).last  # per person
        h.clock.advance(seconds=45)
        assert "Spent" in (await h.say("/spend", user=BOB)).last


async def test_a_flood_past_the_rate_limit_gets_one_line_per_window(tmp_path: Path) -> None:
    async with harness(tmp_path, rate_limit_per_minute=2) as h:
        said = [(await h.say("/spend", user=BOB)).lines for _ in range(8)]
        assert all("Spent" in lines[0] for lines in said[:2])
        assert said[2] == ["Too many requests; try again in 60 s."]
        assert said[3:] == [[]] * 5  # told once; the rest of the flood costs no message each
        h.clock.advance(seconds=60)
        said = [(await h.say("/spend", user=BOB)).lines for _ in range(4)]
        assert all("Spent" in lines[0] for lines in said[:2])
        assert said[2:] == [["Too many requests; try again in 60 s."], []]  # a new window: told again


async def test_answers_in_flight_are_bounded_per_person(tmp_path: Path) -> None:
    async with harness(tmp_path, max_in_flight=1) as h:
        gate = Gate(h.core.services)
        ask = BY_NAME["ask"]
        started, release = asyncio.Event(), asyncio.Event()

        async def answering(user: str) -> None:
            await gate.check(message("/ask hi", user=user), ask)
            started.set()
            await release.wait()

        first = asyncio.create_task(answering(BOB))
        await started.wait()
        second = asyncio.create_task(gate.check(message("/ask again", user=BOB), ask))
        refused = await asyncio.gather(second, return_exceptions=True)
        assert isinstance(refused[0], RateLimited) and refused[0].reason == "in_flight"
        # other commands, other people and owners are not held back
        await asyncio.create_task(gate.check(message("/spend", user=BOB), BY_NAME["spend"]))
        await asyncio.create_task(gate.check(message("/ask x", user="telegram:3"), ask))
        for _ in range(3):
            await asyncio.create_task(gate.check(message("/ask x", user=OWNER), ask))
        release.set()
        await first
        await asyncio.create_task(gate.check(message("/ask again", user=BOB), ask))


async def test_in_flight_refusal_is_worded_with_a_retry(tmp_path: Path) -> None:
    from bot.wording import refusal

    async with harness(tmp_path) as h:
        line = refusal(RateLimited(10, "in_flight"), h.clock())
        assert line == "You already have answers in progress; try again in 10 s."
        await charge(h.ledger, BOB, 1)
