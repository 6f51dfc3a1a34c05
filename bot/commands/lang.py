"""/lang: the language the bot speaks to a person, remembered per person (every identity of their account).

Without a choice the bot follows what the person's client reports (Telegram's `language_code`, Discord's
locale), then `DEFAULT_LANGUAGE`; `/lang auto` goes back to that.
"""

from __future__ import annotations

from bot.commands.base import Command, Context
from bot.i18n import CHOICES, LANGUAGE_NAMES, N_, _, current, from_client, speaking
from bot.incoming import Argument
from bot.refusals import BadArguments

AUTO = "auto"


async def lang(ctx: Context) -> None:
    """/lang shows the language in use and the choices; /lang <code> saves one and answers in it."""
    word = ctx.args.strip().lower()
    choices = ", ".join(f"{code} ({LANGUAGE_NAMES[language]})" for code, language in CHOICES.items())
    if not word:
        await ctx.reply.text(
            _(
                "Language: {language}. Choose with /lang <code>: {choices}; /lang auto follows your app."
            ).format(language=LANGUAGE_NAMES[current()], choices=choices)
        )
        return
    if word == AUTO:
        await ctx.services.ledger.set_language(ctx.user, None)
        with speaking(from_client(ctx.incoming.language) or ctx.services.settings.default_language):
            await ctx.reply.text(_("Language: as your app reports it (or the bot's default)."))
        return
    chosen = CHOICES.get(word)
    if chosen is None:
        raise BadArguments(_("'{word}' is not a language I speak").format(word=word), LANG.usage)
    await ctx.services.ledger.set_language(ctx.user, chosen)
    with speaking(chosen):
        await ctx.reply.text(_("Language set to {language}.").format(language=LANGUAGE_NAMES[chosen]))


LANGUAGE = Argument("language", N_("en, zh, es, fr or auto"))
LANG = Command(
    "lang",
    N_("Show or choose the bot's language"),
    usage="/lang [en|zh|es|fr|auto]",
    argument=LANGUAGE,
    run=lang,
)
COMMANDS = [LANG]
