"""The ledger alone: reserve-and-settle pairs per second, `/spend` and the owner's `/usage` with a million
past charges, another person's reserve while reports run, and peak memory with 10,000 people.

    python -m bench.ledger [--charges 1000000] [--pairs 4000] [--people 10000]
                           [--database-url postgresql://postgres@127.0.0.1:5432/test]
                           [--skip sqlite] [--skip rss]

SQLite always; PostgreSQL too with `--database-url` (in a fresh schema, dropped afterwards). `--skip`
leaves out a part while iterating on another (SQLite's run, or the peak-RSS child; repeatable).
- pairs: `Ledger.reserve` then `Ledger.settle`, one person alone and 32 people at once;
- `/spend` and `/usage`: the real commands through the core (what each renders, read from the running
  totals and the usage rollups) for a person with `--charges` charges this month, inserted with bulk SQL
  together with the rollups and running totals a settle would have written;
- another person's reserve (timed alone; each is settled untimed) while nothing else runs, while the
  owner's `/usage` runs over and over, and while a full scan of the million charges (what `/usage` did
  before the rollups) runs over and over;
- peak RSS: a separate process whose core has answered `--people` different people once each (their
  conversations live in the database; the process holds each person's in-memory state: rate-limit window,
  names), measured as the process's peak resident set.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from bench._support import QuietReply, ask, bench_core
from bot.core import Core
from bot.incoming import Incoming
from bot.ledger import GLOBAL, ChargeDetail, Ledger, Quote, all_keys, period_start
from bot.storage import Database

OWNER = "telegram:1"
HEAVY = "telegram:100"  # the person with a million charges this month
OTHER = "telegram:200"  # another person asking while reports run
QUOTE = Quote(
    input_nanos=50_000, output_nanos_per_token=Decimal(1000), max_output_tokens=200, min_output_tokens=16
)
DETAIL = ChargeDetail(model="bench/model")
SCAN = (  # the owner's /usage before the rollups: every charge of the period, grouped per model
    "SELECT model, COUNT(*) AS requests, SUM(input_tokens) AS i, SUM(cache_read_tokens) AS c,"
    " SUM(output_tokens) AS o, SUM(reasoning_tokens) AS r, SUM(cost) AS cost, SUM(absorbed) AS a"
    " FROM charges WHERE created_at >= ? GROUP BY model"
)


def ms(samples: list[float]) -> str:
    """Median and 95th percentile, in milliseconds."""
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
    return f"median {statistics.median(samples) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


async def pairs_per_second(ledger: Ledger, people: int, pairs: int) -> tuple[float, float]:
    """Reserve-and-settle pairs a second with `people` people asking side by side, `pairs` in all, and the
    pairs per second of this process's CPU time (its threads included: SQLite works in aiosqlite's), which
    a machine shared with other work changes less than the wall clock."""
    each = max(1, pairs // people)

    async def person(n: int) -> None:
        for _ in range(each):
            hold = await ledger.reserve(f"bench:pairs{n}", QUOTE)
            await ledger.settle(hold, hold.amount // 2, DETAIL)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(person(n) for n in range(people)))
    done = people * each
    return done / (time.perf_counter() - started), done / (time.process_time() - cpu)


async def seed(db: Database, user: str, charges: int, now: datetime) -> None:
    """`charges` charges of `user` spread over this month so far, with the rollups and running totals a
    settle writes for each, in bulk SQL (a settle at a time would take the benchmark hours)."""
    start = period_start("monthly", now)
    assert start is not None
    first, span = int(start.timestamp()), max(1, int(now.timestamp()) - int(start.timestamp()))
    if db.dialect == "postgres":
        numbers = "generate_series(0, CAST(? AS BIGINT) - 1) AS n(i)"
    else:
        numbers = "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
        numbers += " SELECT i FROM n)"
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO charges (user_id, hold_id, model, input_tokens, cache_read_tokens,"
            " cache_write_tokens, output_tokens, reasoning_tokens, cost, absorbed, estimated, created_at)"
            " SELECT ?, 0, CASE WHEN i % 3 = 0 THEN 'bench/large' WHEN i % 3 = 1 THEN 'bench/medium'"
            " ELSE 'bench/small' END, 500, 100, 0, 200, 0, 1000 + i % 7, 0, 0,"
            f" CAST(? AS BIGINT) + i * CAST(? AS BIGINT) / CAST(? AS BIGINT) FROM {numbers}",
            user,
            first,
            span,
            charges,
            charges,
        )
        for scope in (user, GLOBAL):
            await tx.execute(
                "INSERT INTO rollups (scope, day, model, requests, input_tokens, cached_tokens,"
                " cache_write_tokens, output_tokens, reasoning_tokens, cost, absorbed)"
                " SELECT ?, created_at - created_at % 86400, model, COUNT(*), SUM(input_tokens),"
                " SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens),"
                " SUM(cost), SUM(absorbed) FROM charges WHERE user_id = ?"
                " GROUP BY created_at - created_at % 86400, model",
                scope,
                user,
            )
        days = await tx.fetchall(
            "SELECT day, SUM(cost) AS cost FROM rollups WHERE scope = ? GROUP BY day", user
        )
        for row in days:
            for key in all_keys(datetime.fromtimestamp(int(row["day"]), UTC)):
                for scope in (user, GLOBAL):
                    await tx.execute(
                        "INSERT INTO totals (scope, period_key, spent) VALUES (?, ?, ?) ON CONFLICT"
                        " (scope, period_key) DO UPDATE SET spent = totals.spent + excluded.spent",
                        scope,
                        key,
                        int(row["cost"]),
                    )


async def timed(action: Callable[[], Awaitable[object]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return samples


async def command(core: Core, user: str, text: str) -> QuietReply:
    reply = QuietReply()
    await core.handle(Incoming(user=user, conversation=f"bench:{user}", text=text, direct=True), reply)
    assert reply.lines, f"{text} said nothing"
    return reply


async def reserve_beside(ledger: Ledger, background: Callable[[], Awaitable[object]] | None) -> list[float]:
    """Another person's reserve latency (each hold settled untimed) while `background` runs in a loop."""
    stop = asyncio.Event()
    loops = 0

    async def keep_running() -> None:
        nonlocal loops
        assert background is not None
        while not stop.is_set():
            await background()
            loops += 1

    runner = asyncio.create_task(keep_running()) if background else None
    await asyncio.sleep(0.05)  # the background work is under way
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        hold = await ledger.reserve(OTHER, QUOTE)
        samples.append(time.perf_counter() - started)
        await ledger.settle(hold, hold.amount // 2, DETAIL)
    stop.set()
    if runner is not None:
        await runner
        assert loops > 0
    return samples


async def backend(name: str, database_url: str | None, charges: int, pairs: int) -> None:
    async with bench_core(
        cap_usd="1000000", fill_to_limit=False, word_delay=0, database_url=database_url, owner_ids=OWNER
    ) as core:
        ledger = core.services.ledger
        print(f"{name}:")
        alone, alone_cpu = await pairs_per_second(ledger, 1, pairs // 4)
        together, together_cpu = await pairs_per_second(ledger, 32, pairs)
        print(
            f"  reserve-and-settle pairs per second: {alone:.0f} one person alone, {together:.0f} with 32"
            f" at once (per second of the process's CPU: {alone_cpu:.0f} and {together_cpu:.0f})"
        )

        now = ledger.now()
        started = time.perf_counter()
        await seed(ledger.db, HEAVY, charges, now)
        print(
            f"  seeded {charges:,} charges of one person this month in {time.perf_counter() - started:.1f} s"
        )
        await command(core, HEAVY, "/spend")  # warm: the person's first message records their names
        spend = await timed(lambda: command(core, HEAVY, "/spend"), 200)
        usage_one = await timed(lambda: command(core, OWNER, f"/usage {HEAVY}"), 200)
        usage_all = await timed(lambda: command(core, OWNER, "/usage"), 200)
        print(f"  /spend of the person with {charges:,} charges: {ms(spend)}")
        print(f"  owner /usage of that person: {ms(usage_one)}")
        print(f"  owner /usage of everyone: {ms(usage_all)}")

        month = int(period_start("monthly", now).timestamp())  # type: ignore[union-attr]
        quiet = await reserve_beside(ledger, None)
        beside_usage = await reserve_beside(ledger, lambda: command(core, OWNER, "/usage"))
        scans = 0

        async def scan() -> None:
            nonlocal scans
            await ledger.db.fetchall(SCAN, month)
            scans += 1

        beside_scan = await reserve_beside(ledger, scan)
        print(f"  another person's reserve, nothing else running: {ms(quiet)}")
        print(f"  ... while the owner's /usage runs over and over: {ms(beside_usage)}")
        print(
            f"  ... while full scans of the {charges:,} charges run over and over ({scans} ran):"
            f" {ms(beside_scan)}"
        )


async def rss(people: int) -> None:
    """Answer `people` different people once each, then report this process's peak resident set."""
    async with bench_core(cap_usd="100", fill_to_limit=False, word_delay=0) as core:
        await ask(core, "bench:warmup", "warm up")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        gate = asyncio.Semaphore(128)

        async def one(n: int) -> bool:
            async with gate:
                return (await ask(core, f"bench:person{n}", f"question {n}")).answered

        answered = sum(await asyncio.gather(*(one(n) for n in range(people))))
        row = await core.services.ledger.db.fetchone("SELECT COUNT(DISTINCT conversation) AS n FROM messages")
        held = int(row["n"]) if row else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"SQLite, {people:,} people answered once each ({answered:,} answered, {held:,} conversations kept):"
        f" peak RSS {peak:.0f} MB (after start-up: {before:.0f} MB)"
    )


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    if args.rss:
        await rss(args.people)
        return
    if "sqlite" not in args.skip:
        await backend("SQLite (WAL)", None, args.charges, args.pairs)
    if args.database_url:
        await backend("PostgreSQL", args.database_url, args.charges, args.pairs)
    if "rss" in args.skip:
        return
    # peak memory in a process of its own, so the seeding above does not count
    argv = [sys.executable, "-m", "bench.ledger", "--rss", "--people", str(args.people)]
    child = await asyncio.create_subprocess_exec(*argv)
    assert await child.wait() == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--charges", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--database-url")
    parser.add_argument("--skip", action="append", default=[], choices=["sqlite", "rss"])
    parser.add_argument("--rss", action="store_true", help=argparse.SUPPRESS)
    asyncio.run(main(parser.parse_args()))
