"""The one place that words refusals and failures for people: short, one line, never a key."""

from __future__ import annotations

from datetime import datetime

from bot.ledger import Blocked, CapReached, LinkRefused, OwnerProtected, TooManyKeys
from bot.money import BadAmount, format_usd
from bot.refusals import (
    AmbiguousUser,
    BadArguments,
    BadKey,
    CapReachedWithHistory,
    EmptyPrompt,
    ModelUnavailable,
    NotAllowed,
    NotOwner,
    NotPrivate,
    PromptTooLarge,
    QueueFull,
    RateLimited,
    Refusal,
    Restarting,
    UnknownKey,
    UnknownModelChoice,
    UnknownUser,
)
from bot.storage import DatabaseBusy

_LINK_REFUSALS = {
    "bad_code": "That link code is wrong, used or expired. Send /link on your other account for a new one",
    "same_account": "These identities already share one allowance",
    "in_flight": "An answer is still in progress on one of the accounts; try again when it has finished",
    "self": "Send this code from your other account (another platform), not from this one",
    "not_linked": "That identity shares no allowance with anyone; there is nothing to unlink",
    "blocked": "The account that code belongs to is blocked, and linking would block you too",
    "spent": (
        "These accounts have spent from their shared allowance this period, so only the bot's owner can "
        "split them now (spend can't be split back); or unlink after the period resets"
    ),
}

# What each command that refuses outside a private chat would have shown there.
_SECRETS = {"link": "a link code", "key": "an API key"}

_PROVIDER_FAILURES = {
    "auth": "is unavailable right now (the owner has been told)",
    "rate_limited": "is rate limited by its provider; try again in a minute",
    "overloaded": "is overloaded at its provider; try again shortly",
    "context_too_long": "cannot take a conversation this long; send /new and ask again",
    "bad_request": "refused the request",
    "timeout": "took too long to answer; try again",
    "malformed": "sent an answer we could not read; try again",
    "unavailable": "cannot be reached right now; try again later",
}


THIS_PERIOD = {"daily": "today", "weekly": "this week", "monthly": "this month", "total": "in total"}
PER_PERIOD = {"daily": "per day", "weekly": "per week", "monthly": "per month", "total": "in total"}


def when(moment: datetime | None, now: datetime) -> str:
    """ "2026-12-01 00:00 UTC (in 8 days)" — absolute for logs and screenshots, relative for people."""
    if moment is None:
        return "never (the cap is for all time)"
    seconds = int((moment - now).total_seconds())
    if seconds < 3600:
        relative = f"{max(seconds // 60, 1)} min"
    elif seconds < 2 * 86400:
        relative = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        relative = f"{seconds // 86400} days"
    return f"{moment:%Y-%m-%d %H:%M} UTC (in {relative})"


def owner_protected(refused: OwnerProtected, verb: str = "blocked") -> str:
    """Why a block (in the API's words, a disable) was refused: a block applies to the whole account, so
    an identity linked with an owner's counts as the owner."""
    if refused.owner == refused.user:
        return f"{refused.user} is an owner; owners can't be {verb}"
    return f"{refused.user} shares an allowance with the owner {refused.owner}; owners can't be {verb}"


def refusal(exc: Refusal, now: datetime) -> str:
    """The one line for a refusal, whichever part of the bot raised it (`now` words reset times)."""
    match exc:
        case EmptyPrompt():
            return "Ask something after the command, e.g. /ask What is the capital of Peru?"
        case UnknownModelChoice(model_id=model_id, reason=reason):
            return f"Can't use {model_id}: {reason}. Send /model to see the models you can pick."
        case PromptTooLarge(model_id=model_id, tokens=tokens, context_window=window):
            return (
                f"That message is too long for {model_id} (about {tokens:,} tokens; it takes {window:,}). "
                "Shorten it or pick a model with a larger context via /model."
            )
        case CapReached(remaining=remaining, resets_at=resets_at, scope="global"):
            return (
                f"The bot's overall spending limit is reached ({format_usd(remaining)} left); "
                f"it resets {when(resets_at, now)}."
            )
        case CapReached(remaining=remaining, resets_at=resets_at):
            return (
                f"Your allowance can't pay for an answer: {format_usd(remaining)} left. "
                f"It resets {when(resets_at, now)}."
            )
        case CapReachedWithHistory(
            refused=CapReached(remaining=remaining, resets_at=resets_at, scope="user")
        ):
            return (
                "Your allowance can't pay for an answer, even leaving out the earlier conversation "
                f"(/new clears it): {format_usd(remaining)} left. It resets {when(resets_at, now)}."
            )
        case CapReachedWithHistory(refused=refused):  # the bot's overall limit: the conversation is no matter
            return refusal(refused, now)
        case Blocked():
            return "You are blocked from using this bot."
        case NotOwner(command=command):
            return f"/{command} is for the bot's owner only."
        case NotPrivate(command=command, voided=True):
            return (
                f"Send /{command} to me in a private chat, never where others can read it: that code was "
                "seen here, so it no longer works. Send /link privately on your other account for a new one."
            )
        case NotPrivate(command=command):
            secret = _SECRETS.get(command, "a secret")
            return (
                f"Send /{command} to me in a private chat: {secret} must not be seen by anyone else. "
                "Nothing was issued here."
            )
        case NotAllowed(user=user):
            return f"This bot is private. Send your id {user} to its owner to be let in."
        case RateLimited(retry_in_seconds=seconds, reason="in_flight"):
            return f"You already have answers in progress; try again in {seconds} s."
        case RateLimited(retry_in_seconds=seconds):
            return f"Too many requests; try again in {seconds} s."
        case QueueFull(waiting=waiting):
            return f"You have {waiting} messages waiting for an answer; I'll skip new ones until I catch up."
        case BadArguments(problem=problem, usage=usage):
            return f"{problem}. Usage: {usage}" if usage else f"{problem}."
        case ModelUnavailable(model_id=model_id, kind=kind):
            return f"{model_id} {_PROVIDER_FAILURES.get(kind, 'failed')}. You were not charged."
        case BadAmount():
            return f"{exc}."
        case UnknownUser(name=name) if name.startswith("@"):
            return (
                f"I don't know {name}: nobody with that username has written to the bot yet. "
                "Name them by platform:id (e.g. telegram:12345), or in a chat reply to their message."
            )
        case UnknownUser(name=name):
            return (
                f"I don't know {name or 'an empty name'}: use platform:id (e.g. telegram:12345), "
                "an @username the bot has seen, or in a chat a reply to their message."
            )
        case AmbiguousUser(name=name, matches=matches):
            return f"{name} could be {', '.join(matches)}; name them by platform:id."
        case LinkRefused(
            reason="owner_blocked", detail=detail
        ):  # owners can't be blocked, not even by a link
            return f"{detail}; unblock them first."
        case LinkRefused(reason=reason):
            return _LINK_REFUSALS.get(reason, "Those identities can't be linked") + "."
        case OwnerProtected():
            return owner_protected(exc) + "."
        case UnknownKey(user=user, key=key):
            return f"{key} is not a live key of {user}; list them to see their ids and prefixes."
        case TooManyKeys(user=user, limit=limit):
            return f"{user} already has {limit} live keys; revoke one before making another."
        case DatabaseBusy():
            return "The bot's database is busy; try again in a moment. Nothing was charged."
        case BadKey():
            return (
                "Send your capbot key as Authorization: Bearer <key>; this one is missing, wrong or revoked. "
                "The bot's owner issues keys."
            )
        case Restarting():
            return RESTARTING
    return "That can't be done."  # a refusal nobody worded yet: still one line that changes nothing


# While a stop finishes the answers in progress, to anyone who asks something new.
RESTARTING = "The bot is restarting; ask again in a moment."

# The one apology for the unexpected, from the core and from the adapters alike.
UNEXPECTED = "Sorry, something went wrong on our side; please try again. The owner's log has the details."
NO_PROVIDER = "No model is available: the owner has not set up a provider key."
NO_PRICED_MODEL = "No model is available: none of the configured providers' models has a known price."


# Stop, as the answer and the person who pressed it read it
STOPPED_NOTE = "(stopped)"
STOPPING = "Stopping."
STOP_NOT_YOURS = "Only the person who asked can stop this answer."
STOP_FINISHED = "This answer has already finished."
