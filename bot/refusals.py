"""Every kind of "no" the bot can say is a `Refusal`; `bot.wording` turns each into one line for people.

Raising one from a command ends it with that line and no change to any state. The kinds that belong to
a part of the bot are declared there (the ledger's `CapReached`, `Blocked`, `OwnerProtected` and
`LinkRefused`, storage's `DatabaseBusy`, money's `BadAmount`); the rest are here. This module imports
nothing of the bot, so every part can raise a refusal without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal


class Refusal(Exception):
    """A request the bot declines; shown to the asker only (ephemeral where the platform can)."""

    # True when the asker was already told and saying it again would only cost a platform send each
    # time (a flood past the rate limit): the core then answers nothing at all.
    silent: bool = False


class EmptyPrompt(Refusal):
    """/ask with nothing after it: refused before anything is priced or reserved."""


@dataclass
class UnknownModelChoice(Refusal):
    """A model that can't be used here; `reason` says why (unknown, not set up, or no known price)."""

    model_id: str
    reason: str


@dataclass
class PromptTooLarge(Refusal):
    """The new message alone does not fit the model's context: refused before paying for a sure failure."""

    model_id: str
    tokens: int
    context_window: int


@dataclass
class CapReachedWithHistory(Refusal):
    """The ledger's `CapReached` for a question whose history was left out so that an answer would fit
    what was left, when another answer took that meanwhile."""

    refused: Refusal  # the ledger's CapReached: what is left and when it resets


class BadKey(Refusal):
    """An API request (the gateway's) without a live key: missing, wrong or revoked, told apart to nobody."""


class Restarting(Refusal):
    """A stop is under way: new requests are turned away while the answers in progress finish."""


@dataclass
class NotOwner(Refusal):
    """An owner command from someone else; it names the command so the line makes sense on its own."""

    command: str


@dataclass
class NotAllowed(Refusal):
    """A stranger in allowlist mode; carries their id, which they need to send the owner to be let in."""

    user: str


@dataclass
class RateLimited(Refusal):
    """Too many requests, or too many answers at once; says when trying again will work."""

    retry_in_seconds: int
    reason: str = "per_minute"  # or "in_flight"
    silent: bool = False  # already told in this window: see `Refusal.silent`


@dataclass
class QueueFull(Refusal):
    """Someone's messages arrive faster than they are answered: with `waiting` queued, the adapter drops
    further ones, and says so once per burst (`adapters.person_queues`)."""

    waiting: int


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


@dataclass
class UnknownUser(Refusal):
    """An owner named someone the bot has never seen (or a malformed identity)."""

    name: str


@dataclass
class AmbiguousUser(Refusal):
    """An @username that several identities have used; the matches let the owner pick by platform:id."""

    name: str
    matches: tuple[str, ...]


@dataclass
class UnknownKey(Refusal):
    """A key to revoke that is not a live key of that person's account (by id or shown prefix)."""

    user: str
    key: str


@dataclass
class NotPrivate(Refusal):
    """A command that would show or take a secret (a link code, an API key), sent where others can read
    the answer (a group, a guild channel): refused there, and nothing is issued. `voided`: the code typed
    there was seen by the chat, so it was made unusable."""

    command: str
    voided: bool = False


@dataclass
class FileNotTaken(Refusal):
    """A file that came with a message and never reaches the core: over `MAX_MEDIA_MB` (refused before
    any download), a download that failed, or a kind the bot can't read (neither an image nor audio)."""

    reason: Literal["too_big", "download_failed", "unsupported"]
    limit_mb: Decimal = Decimal(0)


@dataclass
class BadAttachment(Refusal):
    """A file that came with a message and can't be used (corrupt, unsupported, empty): nothing is charged
    and nothing is stored. `reason` is a clause for people ("the file is not an image, or it is damaged")."""

    reason: str


@dataclass
class TooManyImages(Refusal):
    """More images in one message than MAX_IMAGES (0: images are turned off)."""

    limit: int


@dataclass
class AudioTooLong(Refusal):
    """Audio longer than MAX_AUDIO_SECONDS (0: voice notes are turned off)."""

    seconds: int
    limit: int


@dataclass
class CannotSee(Refusal):
    """An image for a model that can't see one; `seeing` names configured models that can."""

    model_id: str
    seeing: tuple[str, ...]


class NoTranscription(Refusal):
    """Audio, but no model to transcribe it: TRANSCRIPTION_MODEL unset and no OpenAI key, or unusable."""
