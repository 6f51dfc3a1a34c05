"""The per-person queues both chat adapters share: order per person, nothing shared held while waiting,
a bound per person with one notice per burst, and clean cancellation."""

from __future__ import annotations

import asyncio

from adapters.person_queues import PersonQueues
from tests.doubles import eventually


class Drops:
    """Records what `run` says about each drop."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    async def __call__(self, first: bool) -> None:
        self.seen.append(first)


async def test_a_flooders_waiting_events_hold_no_shared_slot() -> None:
    """One shared slot only: the flooder's first event holds it while running, but the bystander still
    gets it as soon as that is done, ahead of the flooder's queue (which waits for their own turn)."""
    queues = PersonQueues(pending=500, handling=2)
    release = asyncio.Event()
    done: list[str] = []

    async def work(name: str, blocked: bool = False) -> None:
        if blocked:
            await release.wait()
        done.append(name)

    drops = Drops()
    flood = [asyncio.create_task(queues.run("alice", work("a0", blocked=True), drops))]
    flood += [asyncio.create_task(queues.run("alice", work(f"a{n}"), drops)) for n in range(1, 300)]
    await eventually(lambda: queues.waiting("alice") == 299, "the flood queued")
    assert await queues.run("bob", work("bob"), drops)  # answered while the flood still waits
    assert done == ["bob"] and queues.waiting("alice") == 299
    release.set()
    await asyncio.gather(*flood)
    assert done[1:] == [f"a{n}" for n in range(300)]  # in arrival order
    assert drops.seen == [] and queues.waiting("alice") == 0


async def test_a_full_queue_drops_the_rest_with_one_notice_per_burst() -> None:
    queues = PersonQueues(pending=3)
    release = asyncio.Event()
    done: list[int] = []
    drops = Drops()

    async def work(n: int) -> None:
        if n == 0:
            await release.wait()
        done.append(n)

    tasks = [asyncio.create_task(queues.run("alice", work(n), drops)) for n in range(10)]
    await eventually(lambda: len(drops.seen) == 6, "six drops")
    assert drops.seen == [True] + [False] * 5  # one notice, then silence
    release.set()
    ran = await asyncio.gather(*tasks)
    assert ran == [True] * 4 + [False] * 6 and done == [0, 1, 2, 3]
    # the queue ran empty: the burst is over, and the next one is told again
    release.clear()
    tasks = [asyncio.create_task(queues.run("alice", work(n), drops)) for n in (0, 1, 2, 3, 4)]
    await eventually(lambda: len(drops.seen) == 7, "a drop in a new burst")
    assert drops.seen[-1] is True
    release.set()
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_leaves_the_queue_and_the_turn_moves_on() -> None:
    queues = PersonQueues()
    release = asyncio.Event()
    done: list[str] = []

    async def work(name: str) -> None:
        if name == "first":
            await release.wait()
        done.append(name)

    drops = Drops()
    first = asyncio.create_task(queues.run("alice", work("first"), drops))
    second = asyncio.create_task(queues.run("alice", work("second"), drops))
    third = asyncio.create_task(queues.run("alice", work("third"), drops))
    await eventually(lambda: queues.waiting("alice") == 2, "two waiting")
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    release.set()
    assert await first and await third
    assert done == ["first", "third"] and queues.waiting("alice") == 0
