"""/start, /help and /new: the commands that need no money."""

from __future__ import annotations

from bot.commands.base import Command, Context


async def new(ctx: Context) -> None:
    """/new: forget the conversation, so the next question is not paid for with old history."""
    dropped = await ctx.services.conversations.clear(ctx.incoming.conversation)
    note = f" ({dropped} earlier messages forgotten)" if dropped else ""
    await ctx.reply.text(f"Started a new conversation{note}.")


async def help_(ctx: Context) -> None:
    """/help: the commands this person may run (owners also see theirs)."""
    owner = ctx.services.is_owner(ctx.user)
    lines = ["capbot answers with the owner's LLM keys; each person has a spending allowance.", ""]
    for command in ctx.services.commands_for(owner=owner):
        lines.append(f"{command.usage or '/' + command.name} — {command.summary}")
    if ctx.incoming.direct:
        lines += ["", "In a private chat, plain text is a question too."]
    await ctx.reply.text("\n".join(lines))


async def start(ctx: Context) -> None:
    """/start, what Telegram sends first: the same introduction as /help."""
    await help_(ctx)


COMMANDS = [
    Command("start", "Introduction", usage="/start", greeting=True, run=start),
    Command("help", "This list", usage="/help", run=help_),
    Command("new", "Start a fresh conversation", usage="/new", run=new),
]
