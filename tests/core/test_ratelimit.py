"""Rate limits with a hand-moved clock: requests per minute and answers in flight."""

from __future__ import annotations

import asyncio

import pytest

from bot.ratelimit import IN_FLIGHT_RETRY_SECONDS, InFlight, PerMinute
from bot.refusals import RateLimited
from tests.doubles import Clock


def test_per_minute_admits_up_to_the_limit_then_says_when() -> None:
    clock = Clock()
    limit = PerMinute(3, clock)
    for _ in range(3):
        limit.admit("telegram:1")
        clock.advance(seconds=10)
    with pytest.raises(RateLimited) as refused:
        limit.admit("telegram:1")
    # the first request (30 s ago) leaves the window in 30 s
    assert refused.value.retry_in_seconds == 30
    assert refused.value.reason == "per_minute"
    limit.admit("telegram:2")  # others are unaffected


def test_per_minute_refusals_do_not_count_and_retrying_when_told_works() -> None:
    clock = Clock()
    limit = PerMinute(2, clock)
    limit.admit("u:1")
    clock.advance(seconds=10)
    limit.admit("u:1")
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            limit.admit("u:1")
    assert refused.value.retry_in_seconds == 50
    clock.advance(seconds=refused.value.retry_in_seconds)
    limit.admit("u:1")
    with pytest.raises(RateLimited):
        limit.admit("u:1")


def test_per_minute_window_slides() -> None:
    clock = Clock()
    limit = PerMinute(2, clock)
    limit.admit("u:1")
    clock.advance(seconds=59)
    limit.admit("u:1")
    clock.advance(seconds=1)  # the first is now exactly a minute old
    limit.admit("u:1")
    with pytest.raises(RateLimited) as refused:
        limit.admit("u:1")
    assert refused.value.retry_in_seconds == 59


def test_per_minute_retry_is_at_least_one_second() -> None:
    clock = Clock()
    limit = PerMinute(1, clock)
    limit.admit("u:1")
    clock.advance(seconds=59, milliseconds=999)
    with pytest.raises(RateLimited) as refused:
        limit.admit("u:1")
    assert refused.value.retry_in_seconds == 1


def test_zero_means_no_per_minute_limit() -> None:
    limit = PerMinute(0, Clock())
    for _ in range(1000):
        limit.admit("u:1")


async def test_in_flight_counts_running_tasks_per_person() -> None:
    limit = InFlight(2)
    release = asyncio.Event()
    entered: list[str] = []

    async def answer(user: str) -> None:
        limit.enter(user)
        entered.append(user)
        await release.wait()

    first = [asyncio.create_task(answer("u:1")) for _ in range(2)]
    other = asyncio.create_task(answer("u:2"))
    await asyncio.sleep(0)
    assert limit.count("u:1") == 2 and limit.count("u:2") == 1

    async def third() -> None:
        limit.enter("u:1")

    with pytest.raises(RateLimited) as refused:
        await asyncio.create_task(third())
    assert refused.value.reason == "in_flight"
    assert refused.value.retry_in_seconds == IN_FLIGHT_RETRY_SECONDS

    release.set()
    await asyncio.gather(*first, other)
    assert limit.count("u:1") == 0 and limit.count("u:2") == 0
    await asyncio.create_task(third())  # room again once the answers finished


async def test_in_flight_a_task_handling_messages_in_turn_counts_once() -> None:
    """Adapters that handle one message after another in one task never block themselves."""
    limit = InFlight(1)
    for _ in range(3):
        limit.enter("u:1")
    assert limit.count("u:1") == 1
    limit.enter("u:2")  # the same task moved on to someone else's message
    assert limit.count("u:1") == 0 and limit.count("u:2") == 1


def test_per_minute_tells_once_then_refuses_silently_until_admitted_again() -> None:
    clock = Clock()
    limit = PerMinute(2, clock)
    limit.admit("u:1")
    limit.admit("u:1")
    refusals = []
    for _ in range(5):
        with pytest.raises(RateLimited) as refused:
            limit.admit("u:1")
        refusals.append(refused.value.silent)
    assert refusals == [False, True, True, True, True]
    limit.admit("u:2")
    limit.admit("u:2")
    with pytest.raises(RateLimited) as other:
        limit.admit("u:2")
    assert not other.value.silent  # told per person
    clock.advance(seconds=60)  # the window frees up: admitted, and a later flood is told again
    limit.admit("u:1")
    limit.admit("u:1")
    with pytest.raises(RateLimited) as again:
        limit.admit("u:1")
    assert not again.value.silent
