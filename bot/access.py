"""The access stage, run before every command: allowlist, owner-only commands, rate limits, blocked people.

Order matters: the cheap in-memory checks come before the one database read, so someone flooding the bot
costs it nothing but a refusal. Owners are never rate limited or blocked.
"""

from __future__ import annotations

from bot.commands.base import Command, Services
from bot.incoming import Incoming
from bot.ledger import Blocked, UserProfile
from bot.ratelimit import InFlight, PerMinute
from bot.refusals import NotAllowed, NotOwner


class Gate:
    """The access stage of the request path. Cheap: one profile read per message."""

    def __init__(self, services: Services) -> None:
        self._services = services
        # (username, display name) last stored per user: only a change costs a database write
        self._names: dict[str, tuple[str | None, str | None]] = {}
        settings = services.settings
        self.per_minute = PerMinute(settings.rate_limit_per_minute, services.clock)
        self.in_flight = InFlight(settings.max_in_flight)

    async def check(self, incoming: Incoming, command: Command, profile: UserProfile | None = None) -> None:
        """Raise the refusal that applies to this message, or return to let the command run. `profile`:
        the asker's, when the caller read it already (the core reads it once per message)."""
        services = self._services
        user = incoming.user
        owner = services.is_owner(user)
        allowed = services.settings.allowed_users
        if allowed and not owner and user not in allowed:
            raise NotAllowed(user)  # first: a stranger always learns the id to send the owner
        if command.owner_only and not owner:
            raise NotOwner(command.name)
        if not owner:
            if command.streams:  # a paid answer: counts towards MAX_IN_FLIGHT
                self.in_flight.enter(user)
            self.per_minute.admit(user)
        names = (incoming.username, incoming.display_name)
        if any(names) and self._names.get(user) != names:
            await services.ledger.remember_names(user, *names)
            self._names[user] = names
        if not owner and (profile or await services.ledger.profile(user)).blocked:
            raise Blocked(user)
