"""Chat commands: one module per command family, each exporting `COMMANDS`. Order is /help's order."""

from __future__ import annotations

from bot.commands import admin, ask, basics, key, lang, link, model, spend
from bot.commands.base import Command

ALL: tuple[Command, ...] = (
    *ask.COMMANDS,
    *model.COMMANDS,
    *spend.COMMANDS,
    *basics.COMMANDS,
    *lang.COMMANDS,
    *link.COMMANDS,
    *key.COMMANDS,
    *admin.COMMANDS,
)
BY_NAME: dict[str, Command] = {name: c for c in ALL for name in (c.name, *c.aliases)}
