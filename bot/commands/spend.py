"""/spend: this period's spent, cap, what remains and is held, when it resets, the last 7 days, top models."""

from __future__ import annotations

from bot.commands.base import Command, Context
from bot.ledger import period_start
from bot.money import format_usd, spent_and_left
from bot.wording import THIS_PERIOD, when

BARS = "▁▂▃▄▅▆▇█"


def bar_chart(amounts: list[int]) -> str:
    """One character per amount: ▁ for nothing, then seven heights scaled to the largest."""
    top = max(amounts, default=0)
    if top <= 0:
        return BARS[0] * len(amounts)
    # ceil(a * 7 / top): any spend at all shows at least ▂, the biggest day is █
    return "".join(BARS[0] if a <= 0 else BARS[-(-a * 7 // top)] for a in amounts)


async def spend(ctx: Context) -> None:
    """/spend: what a person needs to pace themselves: this period, the last week, where it went."""
    ledger, now = ctx.services.ledger, ctx.services.clock()
    summary = await ledger.summary(ctx.user)
    spent, left = spent_and_left(summary.spent, summary.remaining or 0)
    spent = f"Spent {spent} {THIS_PERIOD[summary.period]}"
    if summary.cap is None:
        lines = [f"{spent} of an unlimited allowance."]
    else:
        lines = [f"{spent} of your {format_usd(summary.cap)} cap; {left} left."]
    if summary.held:
        lines.append(f"Held by answers in progress: {format_usd(summary.held)}.")
    if summary.resets_at is not None:
        lines.append(f"Resets {when(summary.resets_at, now)}.")
    days = await ledger.daily_spend(ctx.user, 7)
    week = sum(amount for _, amount in days)
    lines.append(
        f"Last 7 days: {bar_chart([a for _, a in days])} "
        f"({days[0][0]:%a}–{days[-1][0]:%a}, {format_usd(week)})"
    )
    models = await ledger.usage_by_model(summary.user, period_start(summary.period, now))
    if models:
        top = ", ".join(f"{m.model} {format_usd(m.cost)}" for m in models[:3])
        lines.append(f"Top models: {top}.")
    await ctx.reply.text("\n".join(lines))


COMMANDS = [Command("spend", "What you have spent and what remains", usage="/spend", run=spend)]
