"""The slash command tree: built from the core's declarations, and synced with Discord.

A command's declared argument is its option (with model autocomplete where the argument names a model),
a declared file (/ask's image or recording) an optional attachment option beside it, an owner command is
shown only to server admins (the core checks OWNER_IDS anyway), and every command hands "/name value" and
the file, if any, to the client (`CapbotClient.answer_slash`), which decides how it is answered.
The tree is synced before the client connects: to `DISCORD_GUILD_IDS` at once, else globally, with the
descriptions in every language we speak (`translator`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from adapters.discord_bot.translator import DESCRIPTION_CHARS, CatalogTranslator
from adapters.handoff import ChatCore, short
from bot.incoming import CommandInfo

log = logging.getLogger("adapters.discord_bot")  # one logger for the whole adapter

MAX_CHOICES = 25  # Discord's cap on autocomplete choices
CHOICE_CHARS = 100  # Discord's cap on a choice's name and value
VALID_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
# What a slash command calls: (interaction, the command, its argument as typed or "", the file or None)
AnswerSlash = Callable[[discord.Interaction, CommandInfo, str, discord.Attachment | None], Awaitable[None]]


def slash_commands(core: ChatCore, answer: AnswerSlash) -> list[app_commands.Command[Any, Any, None]]:
    """One slash command per core command; a greeting (/start) is for clients that send one themselves."""
    return [
        _slash_command(core, answer, command)
        for command in core.command_list(owner=True)
        if not command.greeting and VALID_NAME.match(command.name)
    ]


def _slash_command(
    core: ChatCore, answer: AnswerSlash, command: CommandInfo
) -> app_commands.Command[Any, Any, None]:
    """The command's declared argument becomes its option (named as declared; `value` in Python), and a
    declared file an attachment option after it (`file` in Python). Discord can't require "text or a
    file", so a command that takes a file has both optional: the core refuses a question with neither."""

    async def bare(interaction: discord.Interaction) -> None:
        await answer(interaction, command, "", None)

    async def required(interaction: discord.Interaction, value: str) -> None:
        await answer(interaction, command, value, None)

    async def optional(interaction: discord.Interaction, value: str | None = None) -> None:
        await answer(interaction, command, value or "", None)

    async def with_file(
        interaction: discord.Interaction, value: str | None = None, file: discord.Attachment | None = None
    ) -> None:
        await answer(interaction, command, value or "", file)

    argument, file = command.argument, command.file
    callback: Callable[..., Coroutine[Any, Any, None]] = bare
    if argument is not None:
        callback = required if argument.required else optional
        if file is not None:
            callback = app_commands.describe(file=file.description)(with_file)
            callback = app_commands.rename(file=file.name)(callback)
        callback = app_commands.describe(value=argument.description)(callback)
        callback = app_commands.rename(value=argument.name)(callback)
    if command.owner_only:  # hidden from members who are not server admins; the core checks OWNER_IDS anyway
        callback = app_commands.default_permissions(administrator=True)(callback)
    description = (command.summary or command.name)[:DESCRIPTION_CHARS]
    slash: app_commands.Command[Any, Any, None] = app_commands.Command(
        name=command.name, description=description, callback=callback
    )
    if argument is not None and argument.offers_models:
        slash.autocomplete("value")(_model_choices(core))
    return slash


def _model_choices(
    core: ChatCore,
) -> Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    """Autocomplete from the core's priced models, within Discord's caps."""

    async def autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            found = core.model_choices(current)
        except Exception as exc:
            log.warning("discord: model choices failed: %s", short(exc))
            return []
        return [
            app_commands.Choice(name=label[:CHOICE_CHARS], value=model_id)
            for label, model_id in found
            if len(model_id) <= CHOICE_CHARS
        ][:MAX_CHOICES]

    return autocomplete


async def sync_commands(tree: app_commands.CommandTree[Any], guild_ids: list[int]) -> None:
    """Register the tree with Discord, descriptions translated (`CatalogTranslator`, set before any sync):
    to each of `guild_ids` at once, or globally (which Discord may take a while to show) without any.
    A failed sync is a warning: the commands Discord already has keep working."""
    await tree.set_translator(CatalogTranslator())
    if not guild_ids:
        try:
            synced = await tree.sync()
            log.info("discord: %d slash commands synced globally (may take a while to show)", len(synced))
        except discord.HTTPException as exc:
            log.warning("discord: could not sync slash commands: %s", short(exc))
        return
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        try:
            synced = await tree.sync(guild=guild)
            log.info("discord: %d slash commands synced to guild %s", len(synced), guild_id)
        except discord.HTTPException as exc:
            log.warning("discord: could not sync slash commands to guild %s: %s", guild_id, short(exc))
