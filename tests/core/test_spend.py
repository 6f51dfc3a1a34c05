"""/spend: spent, cap, remaining, held, reset, a 7-day bar chart and the top models."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from bot.commands.spend import bar_chart
from bot.ledger import Quote
from tests.harness import CENT, charge, harness

BOB = "telegram:2"


def test_bar_chart_scales_to_the_biggest_day() -> None:
    assert bar_chart([0, 0, 0]) == "▁▁▁"
    assert bar_chart([0, 1, 50, 100]) == "▁▂▅█"
    assert bar_chart([1, 2, 3, 4, 5, 6, 7]) == "▂▃▄▅▆▇█"
    assert bar_chart([]) == ""


async def test_spend_shows_everything_in_a_few_lines(tmp_path: Path) -> None:
    async with harness(tmp_path, cap_period="weekly", default_cap_usd=Decimal("2")) as h:
        await charge(h.ledger, BOB, 4 * CENT, "openai/gpt-4o")  # Sunday, last week
        h.clock.advance(days=1)  # Monday 2026-11-23
        await charge(h.ledger, BOB, 10 * CENT, "openai/gpt-4o")
        await charge(h.ledger, BOB, 1 * CENT, "openai/gpt-4o-mini")
        h.clock.advance(days=2)
        await charge(h.ledger, BOB, 5 * CENT, "anthropic/claude-3-5-haiku-latest")
        await charge(h.ledger, BOB, 2 * CENT, "google/gemini-2.0-flash")
        hold = await h.ledger.reserve(BOB, Quote(3 * CENT, Decimal(0), 100, 16))
        lines = (await h.say("/spend", user=BOB)).last.splitlines()
        await h.ledger.release(hold)
    assert lines == [
        "Spent $0.18 this week of your $2.00 cap; $1.79 left.",
        "Held by answers in progress: $0.03.",
        "Resets Nov 30, 2026 00:00 UTC (in 4 days).",
        "Last 7 days: ▁▁▁▄█▁▆ (Thu–Wed, $0.22)",
        "Top models: openai/gpt-4o $0.10, anthropic/claude-3-5-haiku-latest $0.05, "
        "google/gemini-2.0-flash $0.02.",
        "Language: English (/lang to change).",
    ]


async def test_spend_for_someone_new_and_unlimited(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert (await h.say("/spend", user=BOB)).last.splitlines() == [
            "Spent $0.00 this month of your $1.00 cap; $1.00 left.",
            "Resets Dec 1, 2026 00:00 UTC (in 8 days).",
            "Last 7 days: ▁▁▁▁▁▁▁ (Mon–Sun, $0.00)",
            "Language: English (/lang to change).",
        ]
        await h.ledger.remember_names(BOB, "bob", None)
        await h.say("/cap @bob unlimited total")
        await charge(h.ledger, BOB, 3 * CENT)
        assert (await h.say("/spend", user=BOB)).last.splitlines()[:2] == [
            "Spent $0.03 in total of an unlimited allowance.",
            "Last 7 days: ▁▁▁▁▁▁█ (Mon–Sun, $0.03)",
        ]


async def test_one_amount_reads_the_same_in_every_line(tmp_path: Path) -> None:
    """$0.01149 is "Spent $0.012" (rounded up, so spent and left never pass the cap); the week's total
    and the top model, the same single charge, must not read $0.011 beside it."""
    async with harness(tmp_path) as h:
        await charge(h.ledger, BOB, 11_490_000, "openai/gpt-4o")
        lines = (await h.say("/spend", user=BOB)).last.splitlines()
    assert lines[0] == "Spent $0.012 this month of your $1.00 cap; $0.988 left."
    assert lines[2].endswith("$0.012)")
    assert lines[3] == "Top models: openai/gpt-4o $0.012."
