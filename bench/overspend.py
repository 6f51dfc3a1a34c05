"""Overspend under concurrency: 50 questions at once from one person whose allowance pays for about 2.

The model answers with the whole output limit every time (the worst case). A bot that checks the budget
before and adds the cost after answers all 50; capbot reserves first, so the total stays within the cap.

    python -m bench.overspend
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal

from bench._support import ask, bench_core
from bot.money import format_usd
from bot.pricing import Pricer

QUESTIONS = 50
MAX_OUTPUT = 1024


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    # the demo model costs $50/$200 per million in/out: one full answer is about $0.2 of output
    full_answer = Pricer.from_file(None).quote(
        "demo/capbot-demo",
        None,
        at=datetime.now(UTC),
        input_tokens=200,
        max_output_tokens=MAX_OUTPUT,
        min_output_tokens=16,
    )
    per_answer = full_answer.input_nanos + int(full_answer.output_nanos_per_token * MAX_OUTPUT)
    cap = Decimal(2 * per_answer) / Decimal(10**9)
    async with bench_core(
        cap_usd=str(cap.quantize(Decimal("0.000001"))), fill_to_limit=True, word_delay=0.001
    ) as core:
        replies = await asyncio.gather(*(ask(core, "bench:alice", f"question {n}") for n in range(QUESTIONS)))
        summary = await core.services.ledger.summary("bench:alice")
    answered = sum(r.answered for r in replies)
    assert summary.cap is not None
    print(f"questions at once:      {QUESTIONS}")
    print(f"cap:                    {format_usd(summary.cap)} (about 2 full answers)")
    print(f"answered (any length):  {answered}")
    print(f"refused with one line:  {QUESTIONS - answered}")
    print(f"spent:                  {format_usd(summary.spent)} = {summary.spent / summary.cap:.3f}× the cap")
    print(f"open holds afterwards:  {summary.held}")


if __name__ == "__main__":
    asyncio.run(main())
