"""Slash command descriptions in each person's language: discord.py's `app_commands.Translator` over the
core's catalogs. Command and option names stay as declared (what people type, and what the core reads);
descriptions and option descriptions get `description_localizations` for every Discord locale we speak
(Discord shows each client the one for its locale, else the default, which is DEFAULT_LANGUAGE's)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import SOURCE, _, from_client, speaking

DESCRIPTION_CHARS = 100  # Discord's limit for a command's or an option's description


class CatalogTranslator(app_commands.Translator):
    """Descriptions only; a name or a choice is never translated (None keeps it as declared)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if context.location not in (
            app_commands.TranslationContextLocation.command_description,
            app_commands.TranslationContextLocation.parameter_description,
        ):
            return None
        language = from_client(locale.value)
        if language is None or language == SOURCE:
            return None
        with speaking(language):
            translated = _(string.message)
        return translated[:DESCRIPTION_CHARS] if translated != string.message else None
