"""/link: one allowance across a person's accounts on several platforms.

`/link` alone hands out a one-time code; `/link CODE` from the other account joins the two, so nobody can
join an account they don't hold. Owners may also link two identities directly (`/link <user> <user>`).
"""

from __future__ import annotations

from bot.commands.base import FREE_TEXT, Command, Context, target
from bot.ledger import looks_like_code
from bot.owner import looks_like_user
from bot.refusals import BadArguments, NotOwner
from bot.wording import when


async def link(ctx: Context) -> None:
    """/link [CODE | <user> <user>]."""
    services = ctx.services
    ledger, actions = services.ledger, services.owner_actions
    words = ctx.args.split()
    if not words:
        code, expires = await ledger.issue_code(ctx.user)
        await ctx.reply.text(
            f"Your link code is {code}. Within {when(expires, services.clock())}, send /link {code} "
            "to this bot from your other account; both will then share this account's allowance. "
            "Don't show the code to anyone.",
            private=True,
        )
        return
    if len(words) == 1 and looks_like_code(words[0]):
        linked = await ledger.redeem_code(ctx.user, words[0], protected=services.is_owner)
    elif len(words) == 2 and all(looks_like_user(w) for w in words):
        if not services.is_owner(ctx.user):
            raise NotOwner("link <user> <user>")
        keep, _ = await target(ctx, words[:1], LINK.usage)
        join, _ = await target(ctx, words[1:], LINK.usage)
        linked = await ledger.link(keep, join, protected=services.is_owner)
    else:
        raise BadArguments("That is not a link code", LINK.usage)
    report = await actions.standing(linked.account)
    await ctx.reply.text(f"Linked {', '.join(linked.identities)}: one allowance. " + actions.describe(report))


USAGE = "/link, then /link CODE from your other account"
LINK = Command("link", "Share one allowance across your accounts", usage=USAGE, argument=FREE_TEXT, run=link)
COMMANDS = [LINK]
