"""The slash command tree, built from the core's declarations.

A command's declared argument is its one option (with model autocomplete where the argument names a
model), an owner command is shown only to server admins (the core checks OWNER_IDS anyway), and every
command hands "/name value" to the client (`CapbotClient.answer_slash`), which decides how it is answered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from adapters.discord_bot.translator import DESCRIPTION_CHARS
from adapters.handoff import ChatCore, short
from bot.incoming import CommandInfo

log = logging.getLogger("adapters.discord_bot")  # one logger for the whole adapter

MAX_CHOICES = 25  # Discord's cap on autocomplete choices
CHOICE_CHARS = 100  # Discord's cap on a choice's name and value
VALID_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
# What a slash command calls: (interaction, the command, its argument as typed or "")
AnswerSlash = Callable[[discord.Interaction, CommandInfo, str], Awaitable[None]]


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
    """The command's declared argument becomes its one option (named as declared; `value` in Python)."""

    async def bare(interaction: discord.Interaction) -> None:
        await answer(interaction, command, "")

    async def required(interaction: discord.Interaction, value: str) -> None:
        await answer(interaction, command, value)

    async def optional(interaction: discord.Interaction, value: str | None = None) -> None:
        await answer(interaction, command, value or "")

    argument = command.argument
    callback: Callable[..., Coroutine[Any, Any, None]] = bare
    if argument is not None:
        callback = required if argument.required else optional
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
