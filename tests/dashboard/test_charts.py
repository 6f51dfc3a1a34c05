"""The server-drawn SVG chart: bar heights from integer amounts, exact amounts in the titles."""

from __future__ import annotations

import re
from datetime import date

from bot.dashboard.charts import BOTTOM, HEIGHT, TOP, daily_chart

PLOT = HEIGHT - TOP - BOTTOM


def _bars(svg: str) -> list[tuple[int, int, str]]:
    """(y, height, title) of each bar, left to right."""
    return [
        (int(y), int(h), title)
        for y, h, title in re.findall(
            r'<rect class="bar" x="[\d.]+" y="(\d+)" width="[\d.]+" height="(\d+)"><title>([^<]*)</title>',
            svg,
        )
    ]


def test_heights_are_proportional_and_grounded() -> None:
    days = [
        (date(2026, 11, d), amount) for d, amount in ((1, 0), (2, 500_000_001), (3, 1_000_000_002), (4, 1))
    ]
    bars = _bars(daily_chart(days, "spend"))
    assert [h for _, h, _ in bars] == [0, PLOT // 2, PLOT, 1]  # a tiny amount still shows
    assert all(y + h == TOP + PLOT for y, h, _ in bars)  # every bar stands on the axis
    assert [t for _, _, t in bars] == [
        "2026-11-01: $0.00",
        "2026-11-02: $0.50",
        "2026-11-03: $1.00",
        "2026-11-04: $0.000000001",
    ]
    assert "max $1.00" in daily_chart(days, "spend")


def test_nothing_spent_draws_flat_bars() -> None:
    bars = _bars(daily_chart([(date(2026, 11, d), 0) for d in range(1, 31)], "spend"))
    assert len(bars) == 30 and {h for _, h, _ in bars} == {0}


def test_the_label_is_escaped() -> None:
    assert 'aria-label="&lt;b&gt;&quot;x&quot;"' in daily_chart([], '<b>"x"')
