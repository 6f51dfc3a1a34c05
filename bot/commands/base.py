"""What a command is and what it is handed: the services, the message, a way to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import datetime

import aiohttp

from bot.config import Settings
from bot.conversation import Conversations
from bot.i18n import N_, _
from bot.incoming import Argument, CommandInfo, Incoming, Reply
from bot.ledger import Ledger, UserProfile
from bot.owner import OwnerActions, is_owner, looks_like_user
from bot.pricing import Pricer
from bot.providers.registry import Providers
from bot.refusals import BadArguments, UnknownUser


@dataclass
class Services:
    """Everything commands use, built once by `bot.core.open_core`."""

    settings: Settings
    ledger: Ledger
    pricer: Pricer
    providers: Providers
    conversations: Conversations
    session: aiohttp.ClientSession
    clock: Callable[[], datetime]
    commands: tuple[Command, ...]  # every chat command, in /help's order (`bot.commands.ALL`)

    def is_owner(self, user: str) -> bool:
        """Bound to these settings, for callers that take a `Callable[[str], bool]`."""
        return is_owner(self.settings, user)

    @property
    def owner_actions(self) -> OwnerActions:
        """The owner's actions over this ledger: the same rules as the CLI and the API."""
        return OwnerActions(self.ledger, self.is_owner)

    def commands_for(self, *, owner: bool) -> list[Command]:
        """The commands to list for someone: owner commands only for owners."""
        return [c for c in self.commands if owner or not c.owner_only]


@dataclass
class Stoppable:
    """An answer in progress that its asker (or an owner) may stop: the adapter puts `id` on its Stop
    control and hands it back to `Core.stop`; `stopped` tells the answer how it ended."""

    id: str
    user: str
    stopped: bool = False


@dataclass
class Context:
    """One message as a command sees it: commands take only this, so each can be run from a test."""

    services: Services
    incoming: Incoming
    reply: Reply
    name: str  # the command as typed, without the slash
    args: str  # everything after the command
    stoppable: Stoppable | None = None  # set by the core: this answer's Stop control (see `Core.stop`)
    profile: UserProfile | None = None  # the asker's settings, read once per message by the core

    @property
    def user(self) -> str:
        """The asker as `platform:id`: what every ledger call and every access check is keyed by."""
        return self.incoming.user


@dataclass(frozen=True, kw_only=True)
class Command(CommandInfo):
    """A chat command declared once: its traits, which /help, the access stage and every platform's
    menus read, and the code that runs it."""

    run: Callable[[Context], Awaitable[None]]

    def info(self) -> CommandInfo:
        """The traits without the code: what crosses the boundary to the adapters."""
        return CommandInfo(**{f.name: getattr(self, f.name) for f in fields(CommandInfo)})


async def target(ctx: Context, words: list[str], usage: str) -> tuple[str, list[str]]:
    """The person a chat command is about (its first word, or the replied-to message) and the other words.

    A handle known on two platforms most likely means the one on the asker's platform.
    """
    actions = ctx.services.owner_actions
    if words and looks_like_user(words[0]):
        return await actions.resolve(words[0], platform=ctx.user.split(":", 1)[0]), words[1:]
    if ctx.incoming.reply_to_user:
        return await actions.resolve(ctx.incoming.reply_to_user), words
    if words:
        raise UnknownUser(words[0])
    raise BadArguments(_("Say who: platform:id, @username, or reply to their message"), usage)


# What owner commands and /link take: the words after the command, as their usage line shows them.
FREE_TEXT = Argument("arguments", N_("What follows the command, as /help shows it"))


def owner_command(
    name: str, summary: str, run: Callable[[Context], Awaitable[None]], *, usage: str
) -> Command:
    """An owner command: it takes free text (a person, an amount, ...) and only owners may run it."""
    return Command(name, summary, usage=usage, argument=FREE_TEXT, owner_only=True, run=run)
