"""Charts drawn on the server as SVG: no script, no CDN, and the same picture on every device.

Bar heights are computed from the integer nano-dollar amounts with integer arithmetic; each bar carries a
<title> with its day and exact amount, which browsers show on hover and screen readers read.
"""

from __future__ import annotations

from datetime import date
from html import escape

from bot.money import format_usd

WIDTH, HEIGHT = 600, 160  # the viewBox; the SVG scales to its container
TOP, BOTTOM, LEFT = 14, 20, 4  # room for the maximum's label, the dates, and the edge


def daily_chart(days: list[tuple[date, int]], label: str) -> str:
    """Spend per day as bars, oldest on the left; `label` names the chart for assistive technology."""
    peak = max((amount for _, amount in days), default=0)
    plot = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - 2 * LEFT) / max(len(days), 1)
    bars = []
    for i, (day, amount) in enumerate(days):
        height = 0 if peak == 0 else max(amount * plot // peak, 1 if amount else 0)
        x = LEFT + i * slot
        bars.append(
            f'<rect class="bar" x="{x + slot * 0.1:.1f}" y="{TOP + plot - height}" width="{slot * 0.8:.1f}"'
            f' height="{height}"><title>{day:%Y-%m-%d}: {escape(format_usd(amount))}</title></rect>'
        )
    first = f"{days[0][0]:%b %d}" if days else ""
    last = f"{days[-1][0]:%b %d}" if days else ""
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"'
        ' xmlns="http://www.w3.org/2000/svg">'
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot}" x2="{WIDTH - LEFT}" y2="{TOP + plot}"/>'
        f'<text x="{LEFT}" y="{TOP - 3}">max {escape(format_usd(peak))}</text>'
        + "".join(bars)
        + f'<text x="{LEFT}" y="{HEIGHT - 4}">{first}</text>'
        f'<text x="{WIDTH - LEFT}" y="{HEIGHT - 4}" text-anchor="end">{last}</text></svg>'
    )
