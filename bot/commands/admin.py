"""Owner commands in chat: /cap /block /unblock /users /usage, thin over `bot.owner`.

`<user>` is `platform:id`, an `@username` the bot has seen, or (leaving it out) a reply to that person's
message. What is chat-specific lives here (reading the words, naming someone by replying to them);
parsing amounts and periods, the rules and the one write per command are `bot.owner`'s, shared with the
CLI and the API.
"""

from __future__ import annotations

from bot.commands.base import Command, Context, owner_command, target
from bot.i18n import N_, _
from bot.money import format_usd
from bot.owner import parse_cap, usage_text
from bot.refusals import BadArguments
from bot.wording import per_period, when

TOP = 20  # accounts /users lists: more would not fit one chat message


async def cap(ctx: Context) -> None:
    """/cap: set the cap, then show the result, warning when it already leaves nothing to spend."""
    usage = CAP.usage
    user, rest = await target(ctx, ctx.args.split(), usage)
    if not rest or len(rest) > 2:
        raise BadArguments(
            _("Give an amount (e.g. 5), unlimited or default, then optionally a period"), usage
        )
    actions = ctx.services.owner_actions
    report = await actions.set_cap(user, parse_cap(rest[0], rest[1] if len(rest) > 1 else None, usage))
    line = _("Cap set.") + " " + actions.describe(report)
    if report.remaining is not None and report.remaining <= 0:
        resets = when(report.resets_at, ctx.services.clock())
        line += _(". New answers are refused until the period resets, {when}").format(when=resets)
    await ctx.reply.text(line + ".")


async def _set_blocked(ctx: Context, command: Command, blocked: bool) -> None:
    user, rest = await target(ctx, ctx.args.split(), command.usage)
    if rest:
        raise BadArguments(_("Unexpected '{words}'").format(words=" ".join(rest)), command.usage)
    actions = ctx.services.owner_actions
    report = await actions.set_blocked(user, blocked)
    done = _("Blocked {user}.") if blocked else _("Unblocked {user}.")
    await ctx.reply.text(done.format(user=user) + " " + actions.describe(report))


async def block(ctx: Context) -> None:
    """/block: refused for owners and anyone sharing an owner's allowance."""
    await _set_blocked(ctx, BLOCK, True)


async def unblock(ctx: Context) -> None:
    """/unblock: always allowed, so a mistaken block is undone in one step."""
    await _set_blocked(ctx, UNBLOCK, False)


async def users(ctx: Context) -> None:
    """/users: the top spenders only (`TOP`), so the answer fits one chat message."""
    if ctx.args.strip():
        raise BadArguments(_("/users takes no arguments"), USERS.usage)
    actions = ctx.services.owner_actions
    found = await actions.everyone(limit=TOP)
    if not found:
        await ctx.reply.text(_("Nobody has used the bot yet."))
        return
    ledger = actions.ledger
    default = f"{format_usd(ledger.default_cap)} {per_period(ledger.default_period)}"
    lines = [_("Top spenders (default cap {cap}):").format(cap=default)]
    lines += [f"{n}. {actions.describe(report)}" for n, report in enumerate(found, start=1)]
    await ctx.reply.text("\n".join(lines))


async def usage(ctx: Context) -> None:
    """/usage [user]: where the money went, per model, for one person or everyone."""
    words = ctx.args.split()
    if len(words) > 1:
        raise BadArguments(_("Name at most one person"), USAGE.usage)
    who: str | None = None
    if words or ctx.incoming.reply_to_user:
        who, _rest = await target(ctx, words, USAGE.usage)
    await ctx.reply.text(usage_text(await ctx.services.owner_actions.usage(who)))


CAP = owner_command(
    "cap",
    N_("Set someone's cap and period"),
    cap,
    usage=N_("/cap <user> <amount|unlimited|default> [daily|weekly|monthly|total]"),
)
BLOCK = owner_command("block", N_("Block someone"), block, usage=N_("/block <user>"))
UNBLOCK = owner_command("unblock", N_("Unblock someone"), unblock, usage=N_("/unblock <user>"))
USERS = owner_command("users", N_("Top spenders this period"), users, usage="/users")
USAGE = owner_command(
    "usage", N_("Usage per model (everyone or one person)"), usage, usage=N_("/usage [user]")
)
COMMANDS = [CAP, BLOCK, UNBLOCK, USERS, USAGE]
