"""/start, /help and /new: the commands that need no money."""

from __future__ import annotations

from bot.commands.base import Command, Context
from bot.i18n import N_, _, ngettext


async def new(ctx: Context) -> None:
    """/new: forget the conversation, so the next question is not paid for with old history."""
    dropped = await ctx.services.conversations.clear(ctx.incoming.conversation)
    if dropped:
        line = ngettext(
            "Started a new conversation ({count} earlier message forgotten).",
            "Started a new conversation ({count} earlier messages forgotten).",
            dropped,
        ).format(count=dropped)
    else:
        line = _("Started a new conversation.")
    await ctx.reply.text(line)


async def help_(ctx: Context) -> None:
    """/help: the commands this person may run (owners also see theirs)."""
    owner = ctx.services.is_owner(ctx.user)
    lines = [_("capbot answers with the owner's LLM keys; each person has a spending allowance."), ""]
    for command in ctx.services.commands_for(owner=owner):
        lines.append(f"{_(command.usage) if command.usage else '/' + command.name} — {_(command.summary)}")
    if ctx.incoming.direct:
        lines += ["", _("In a private chat, plain text is a question too.")]
    await ctx.reply.text("\n".join(lines))


async def start(ctx: Context) -> None:
    """/start, what Telegram sends first: the same introduction as /help."""
    await help_(ctx)


COMMANDS = [
    Command("start", N_("Introduction"), usage="/start", greeting=True, run=start),
    Command("help", N_("This list"), usage="/help", run=help_),
    Command("new", N_("Start a fresh conversation"), usage="/new", run=new),
]
