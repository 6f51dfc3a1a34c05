"""/link and /unlink: one allowance across a person's accounts on several platforms, and undoing it.

`/link` alone hands out a one-time code; `/link CODE` from the other account joins the two, so nobody can
join an account they don't hold. Owners may also link two identities directly (`/link <user> <user>`).

A code is a secret: whoever redeems it shares the issuer's allowance. So codes are issued and taken only in
a one-to-one chat with the bot (`Incoming.private`); a code typed where others can read it is voided.

`/unlink` undoes a link: the person's own identity leaves the shared account (only while nothing was spent
from it this period, see `Ledger.unlink`); owners split anyone with `/unlink <user>`, at any time.
"""

from __future__ import annotations

from bot.commands.base import FREE_TEXT, Command, Context, target
from bot.i18n import N_, _
from bot.ledger import looks_like_code
from bot.owner import looks_like_user
from bot.refusals import BadArguments, NotOwner, NotPrivate
from bot.wording import when


async def link(ctx: Context) -> None:
    """/link [CODE | <user> <user>]."""
    services = ctx.services
    ledger, actions = services.ledger, services.owner_actions
    words = ctx.args.split()
    if not words:
        if not ctx.incoming.private:  # a private line in a Telegram group is still read by the group
            raise NotPrivate("link")
        code, expires = await ledger.issue_code(ctx.user)
        await ctx.reply.text(
            _(
                "Your link code is {code}. Before {when}, send /link {code} "
                "to this bot from your other account; both will then share this account's allowance. "
                "Don't show the code to anyone."
            ).format(code=code, when=when(expires, services.clock())),
            private=True,
        )
        return
    if len(words) == 1 and looks_like_code(words[0]):
        if not ctx.incoming.private:  # the chat has seen it: anyone there could redeem it first
            await ledger.void_code(words[0])
            raise NotPrivate("link", voided=True)
        linked = await ledger.redeem_code(ctx.user, words[0], protected=services.is_owner)
    elif len(words) == 2 and all(looks_like_user(w) for w in words):
        if not services.is_owner(ctx.user):
            raise NotOwner("link <user> <user>")
        keep, _rest = await target(ctx, words[:1], LINK.usage)
        join, _rest = await target(ctx, words[1:], LINK.usage)
        linked = await ledger.link(keep, join, protected=services.is_owner)
    else:
        raise BadArguments(_("That is not a link code"), LINK.usage)
    report = await actions.standing(linked.account)
    done = _("Linked {identities}: one allowance.").format(identities=", ".join(linked.identities))
    await ctx.reply.text(done + " " + actions.describe(report))


async def unlink(ctx: Context) -> None:
    """/unlink [user]: your own identity (anyone), or the person named (owners only)."""
    services = ctx.services
    actions = services.owner_actions
    words = ctx.args.split()
    owner = services.is_owner(ctx.user)
    if words:
        if not owner:
            raise NotOwner("unlink <user>")
        who, rest = await target(ctx, words, UNLINK.usage)
        if rest:
            raise BadArguments(_("Unexpected '{words}'").format(words=" ".join(rest)), UNLINK.usage)
        done = await actions.unlink(who)
    else:  # the person undoes their own link; an owner's own is an owner's action
        done = await services.ledger.unlink(ctx.user, self_service=not owner, protected=services.is_owner)
    lines = [
        _(
            "Unlinked {identities} from {account}: each has its own allowance again, and "
            "what was spent so far stays with {account}."
        ).format(identities=", ".join(done.split), account=done.account)
    ]
    for who in (done.account, *done.split):
        lines.append(actions.describe(await actions.standing(who)))
    await ctx.reply.text("\n".join(lines))


USAGE = N_("/link, then /link CODE from your other account (both in a private chat with me)")
LINK = Command(
    "link", N_("Share one allowance across your accounts"), usage=USAGE, argument=FREE_TEXT, run=link
)
UNLINK = Command(
    "unlink",
    N_("Stop sharing an allowance (owners: /unlink <user>)"),
    usage=N_("/unlink, or /unlink <user> (owners)"),
    argument=FREE_TEXT,
    run=unlink,
)
COMMANDS = [LINK, UNLINK]
