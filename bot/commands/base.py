"""What a command is and what it is handed: the services, the message, a way to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from bot.config import Settings
from bot.conversation import Conversations
from bot.incoming import Incoming, Reply
from bot.ledger import Ledger
from bot.owner import OwnerActions, is_owner
from bot.pricing import Pricer
from bot.providers.registry import Providers


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

    def is_owner(self, user: str) -> bool:
        """Bound to these settings, for callers that take a `Callable[[str], bool]`."""
        return is_owner(self.settings, user)

    @property
    def owner_actions(self) -> OwnerActions:
        """The owner's actions over this ledger: the same rules as the CLI and the API."""
        return OwnerActions(self.ledger, self.is_owner)


@dataclass
class Context:
    """One message as a command sees it: commands take only this, so each can be run from a test."""

    services: Services
    incoming: Incoming
    reply: Reply
    name: str  # the command as typed, without the slash
    args: str  # everything after the command

    @property
    def user(self) -> str:
        """The asker as `platform:id`: what every ledger call and every access check is keyed by."""
        return self.incoming.user


@dataclass(frozen=True)
class Command:
    """A chat command as data, so /help, the platforms' menus and the access stage read one list."""

    name: str
    summary: str  # one line for /help and the platforms' command menus
    run: Callable[[Context], Awaitable[None]]
    usage: str = ""
    owner_only: bool = False
    aliases: tuple[str, ...] = ()
