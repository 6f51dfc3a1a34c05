"""/spend: this period's spent, cap, what remains and is held, when it resets, the last 7 days, top models."""

from __future__ import annotations

from bot.commands.base import Command, Context
from bot.i18n import LANGUAGE_NAMES, N_, _, current, weekday
from bot.ledger import period_start
from bot.money import format_usd, spent_and_left
from bot.wording import this_period, when

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
    summary = await ledger.summary(ctx.user, days=7)  # this period and the week's chart: one read
    spent, left = spent_and_left(summary.spent, summary.remaining or 0)
    period = this_period(summary.period)
    if summary.cap is None:
        lines = [_("Spent {spent} {period} of an unlimited allowance.").format(spent=spent, period=period)]
    else:
        lines = [
            _("Spent {spent} {period} of your {cap} cap; {left} left.").format(
                spent=spent, period=period, cap=format_usd(summary.cap), left=left
            )
        ]
    if summary.held:
        lines.append(_("Held by answers in progress: {held}.").format(held=format_usd(summary.held)))
    if summary.resets_at is not None:
        lines.append(_("Resets {when}.").format(when=when(summary.resets_at, now)))
    days = summary.daily
    week = sum(amount for _day, amount in days)
    lines.append(
        _("Last 7 days: {chart} ({first}–{last}, {total})").format(
            chart=bar_chart([a for _day, a in days]),
            first=weekday(days[0][0]),
            last=weekday(days[-1][0]),
            total=format_usd(week, up=True),
        )
    )
    models = await ledger.usage_by_model(summary.user, period_start(summary.period, now))
    if models:
        top = ", ".join(f"{m.model} {format_usd(m.cost, up=True)}" for m in models[:3])
        lines.append(_("Top models: {models}.").format(models=top))
    lines.append(_("Language: {language} (/lang to change).").format(language=LANGUAGE_NAMES[current()]))
    await ctx.reply.text("\n".join(lines))


COMMANDS = [Command("spend", N_("What you have spent and what remains"), usage="/spend", run=spend)]
