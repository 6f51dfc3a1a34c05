"""Throughput and added latency: many people asking at once through the whole core.

Each of N people sends one /ask; the demo server streams a ~60-word answer with no delay, so the time
measured is capbot's own work (access checks, pricing, reserve, streaming, settle, history) plus the
local HTTP round trip. Run against SQLite (default) or PostgreSQL:

    python -m bench.throughput [--users 256] [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

from bench._support import ask, bench_core


async def main(users: int, database_url: str | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    async with bench_core(
        cap_usd="100", fill_to_limit=False, word_delay=0, database_url=database_url
    ) as core:
        await ask(core, "bench:warmup", "warm up")
        latencies: list[float] = []

        async def one(n: int) -> bool:
            started = time.perf_counter()
            reply = await ask(core, f"bench:user{n}", f"question {n}")
            latencies.append(time.perf_counter() - started)
            return reply.answered

        started = time.perf_counter()
        answered = await asyncio.gather(*(one(n) for n in range(users)))
        elapsed = time.perf_counter() - started
        single = []
        for n in range(20):
            t0 = time.perf_counter()
            await ask(core, "bench:solo", f"solo {n}")
            single.append(time.perf_counter() - t0)
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"{backend}: {users} people at once, {sum(answered)} answered in {elapsed:.2f}s")
    print(f"  streamed answers per second: {sum(answered) / elapsed:.0f}")
    print(
        f"  latency under load: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {statistics.quantiles(latencies, n=20)[-1] * 1000:.0f} ms"
    )
    print(f"  one answer alone (core + local HTTP): median {statistics.median(single) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.database_url))
