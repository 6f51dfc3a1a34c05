"""Every kind of "no" the bot can say, as values. `bot.wording` turns each into one line for people.

Raising one of these from a command ends it with that line and no change to any state.
"""

from __future__ import annotations

from dataclasses import dataclass


class Refusal(Exception):
    """A request the bot declines; shown to the asker only (ephemeral where the platform can)."""


class EmptyPrompt(Refusal):
    pass


@dataclass
class UnknownModelChoice(Refusal):
    model_id: str
    reason: str


@dataclass
class PromptTooLarge(Refusal):
    model_id: str
    tokens: int
    context_window: int


@dataclass
class NotOwner(Refusal):
    command: str


@dataclass
class NotAllowed(Refusal):
    user: str


class UserBlocked(Refusal):
    pass


@dataclass
class RateLimited(Refusal):
    retry_in_seconds: int
    reason: str = "per_minute"  # or "in_flight"


@dataclass
class BadArguments(Refusal):
    """Wrong or missing arguments; `usage` is the command's usage line, `problem` what was wrong."""

    problem: str
    usage: str = ""


@dataclass
class ModelUnavailable(Refusal):
    """The provider failed in a way the asker can do nothing about (key rejected, outage, errors)."""

    model_id: str
    kind: str


class StorageBusy(Refusal):
    pass


@dataclass
class UnknownUser(Refusal):
    """An owner named someone the bot has never seen (or a malformed identity)."""

    name: str


@dataclass
class AmbiguousUser(Refusal):
    name: str
    matches: tuple[str, ...]
