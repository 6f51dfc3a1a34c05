"""/key: a person's own keys for the gateway (the bot's OpenAI-compatible `/v1`), each spending their
allowance under the same cap, period, block and limits as chat.

`/key [name]` makes a key and shows it once. A key is a secret that spends the person's money, so like a
link code it is made and shown only in a one-to-one chat with the bot (`Incoming.private`); elsewhere the
command is refused and nothing is made. `/key list` and `/key revoke <id>` show and stop one's own keys
(every key of the account, linked identities included); they show no secret, so they work anywhere, and
answer privately where the platform can. Blocked people never get here (the access stage refuses them).
"""

from __future__ import annotations

from bot.commands.base import FREE_TEXT, Command, Context
from bot.i18n import N_, _
from bot.owner import key_line
from bot.refusals import BadArguments, NotPrivate


async def key(ctx: Context) -> None:
    """/key [name] | /key list | /key revoke <id or prefix>."""
    words = ctx.args.split()
    actions = ctx.services.owner_actions
    if words[:1] == ["list"] and len(words) == 1:
        found = await actions.keys(ctx.user)
        if not found:
            await ctx.reply.text(
                _("You have no keys. Send /key in a private chat with me to make one."), private=True
            )
            return
        lines = [_("Your keys ({count}):").format(count=len(found)), *(key_line(k) for k in found)]
        await ctx.reply.text("\n".join(lines), private=True)
        return
    if words[:1] == ["revoke"]:
        if len(words) != 2:
            raise BadArguments(_("Name one key by its number or prefix"), KEY.usage)
        revoked = await actions.revoke_key(ctx.user, words[1].removeprefix("#"))
        await ctx.reply.text(
            _("Revoked {key}. It no longer works.").format(key=key_line(revoked)), private=True
        )
        return
    if not ctx.incoming.private:  # checked before the name: nothing is made where others read the answer
        raise NotPrivate("key")
    issued = await actions.create_key(ctx.user, ctx.args, usage=KEY.usage)
    name = f" ({issued.name})" if issued.name else ""
    await ctx.reply.text(
        _(
            "Your API key #{id}{name}: {secret}\n"
            "It is shown only this once, so copy it now and don't show it to anyone. Use it as the API key "
            "of any OpenAI-compatible client pointed at this bot's /v1 address (ask the owner for it); it "
            "spends your allowance. /key list shows your keys; /key revoke <number> stops one."
        ).format(id=issued.id, name=name, secret=issued.secret),
        private=True,
    )


KEY = Command(
    "key",
    N_("An API key for the bot's OpenAI-compatible endpoint (private chat only)"),
    usage=N_("/key [name], /key list, /key revoke <number>"),
    argument=FREE_TEXT,
    run=key,
)
COMMANDS = [KEY]
