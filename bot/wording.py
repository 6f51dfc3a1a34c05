"""The one place that words refusals and failures for people: short, one line, never a key."""

from __future__ import annotations

from datetime import datetime

from bot.i18n import N_, _, moment, ngettext, number
from bot.ledger import Blocked, CapReached, LinkRefused, OwnerProtected, TooManyKeys
from bot.money import BadAmount, format_usd
from bot.refusals import (
    AmbiguousUser,
    AudioTooLong,
    BadArguments,
    BadAttachment,
    BadKey,
    CannotSee,
    CapReachedWithHistory,
    EmptyPrompt,
    FileNotTaken,
    ModelUnavailable,
    NotAllowed,
    NotOwner,
    NotPrivate,
    NoTranscription,
    PromptTooLarge,
    QueueFull,
    RateLimited,
    Refusal,
    Restarting,
    TooManyImages,
    UnknownKey,
    UnknownModelChoice,
    UnknownUser,
)
from bot.storage import DatabaseBusy

_LINK_REFUSALS = {
    "bad_code": N_(
        "That link code is wrong, used or expired. Send /link on your other account for a new one"
    ),
    "same_account": N_("These identities already share one allowance"),
    "in_flight": N_("An answer is still in progress on one of the accounts; try again when it has finished"),
    "self": N_("Send this code from your other account (another platform), not from this one"),
    "not_linked": N_("That identity shares no allowance with anyone; there is nothing to unlink"),
    "blocked": N_("The account that code belongs to is blocked, and linking would block you too"),
    "spent": N_(
        "These accounts have spent from their shared allowance this period, so only the bot's owner can "
        "split them now (spend can't be split back); or unlink after the period resets"
    ),
}

# What each command that refuses outside a private chat would have shown there.
_SECRETS = {"link": N_("a link code"), "key": N_("an API key")}

_PROVIDER_FAILURES = {
    "auth": N_("{model} is unavailable right now (the owner has been told). You were not charged."),
    "rate_limited": N_(
        "{model} is rate limited by its provider; try again in a minute. You were not charged."
    ),
    "overloaded": N_("{model} is overloaded at its provider; try again shortly. You were not charged."),
    "context_too_long": N_(
        "{model} cannot take a conversation this long; send /new and ask again. You were not charged."
    ),
    "bad_request": N_("{model} refused the request. You were not charged."),
    "timeout": N_("{model} took too long to answer; try again. You were not charged."),
    "malformed": N_("{model} sent an answer we could not read; try again. You were not charged."),
    "unavailable": N_("{model} cannot be reached right now; try again later. You were not charged."),
}


_THIS_PERIOD = {
    "daily": N_("today"),
    "weekly": N_("this week"),
    "monthly": N_("this month"),
    "total": N_("in total"),
}
_PER_PERIOD = {
    "daily": N_("per day"),
    "weekly": N_("per week"),
    "monthly": N_("per month"),
    "total": N_("in total"),
}


def this_period(period: str) -> str:
    """ "this week": the span a person's spend so far covers."""
    return _(_THIS_PERIOD[period])


def per_period(period: str) -> str:
    """ "per week": how often a cap renews."""
    return _(_PER_PERIOD[period])


def when(moment_: datetime | None, now: datetime) -> str:
    """ "Dec 1, 2026, 12:00 AM UTC (in 8 days)" — absolute for screenshots, relative for people."""
    if moment_ is None:
        return _("never (the cap is for all time)")
    return moment(moment_, now)


def owner_protected(refused: OwnerProtected, verb: str = "blocked") -> str:
    """Why a block (in the API's words, a disable) was refused: a block applies to the whole account, so
    an identity linked with an owner's counts as the owner. (`verb` is the API's, which stays English.)"""
    if verb != "blocked":
        if refused.owner == refused.user:
            return f"{refused.user} is an owner; owners can't be {verb}"
        return f"{refused.user} shares an allowance with the owner {refused.owner}; owners can't be {verb}"
    if refused.owner == refused.user:
        return _("{user} is an owner; owners can't be blocked").format(user=refused.user)
    return _("{user} shares an allowance with the owner {owner}; owners can't be blocked").format(
        user=refused.user, owner=refused.owner
    )


def refusal(exc: Refusal, now: datetime) -> str:
    """The one line for a refusal, whichever part of the bot raised it (`now` words reset times)."""
    match exc:
        case EmptyPrompt():
            return _("Ask something after the command, e.g. /ask What is the capital of Peru?")
        case UnknownModelChoice(model_id=model_id, reason=reason):
            return _("Can't use {model}: {reason}. Send /model to see the models you can pick.").format(
                model=model_id,
                reason=_(reason),  # the pricer's reasons are marked where they are declared
            )
        case PromptTooLarge(model_id=model_id, tokens=tokens, context_window=window):
            return _(
                "That message is too long for {model} (about {tokens} tokens; it takes {window}). "
                "Shorten it or pick a model with a larger context via /model."
            ).format(model=model_id, tokens=number(tokens), window=number(window))
        case CapReached(remaining=remaining, resets_at=resets_at, scope="global"):
            return _("The bot's overall spending limit is reached ({left} left); it resets {when}.").format(
                left=format_usd(remaining), when=when(resets_at, now)
            )
        case CapReached(remaining=remaining, resets_at=resets_at):
            return _("Your allowance can't pay for an answer: {left} left. It resets {when}.").format(
                left=format_usd(remaining), when=when(resets_at, now)
            )
        case CapReachedWithHistory(
            refused=CapReached(remaining=remaining, resets_at=resets_at, scope="user")
        ):
            return _(
                "Your allowance can't pay for an answer, even leaving out the earlier conversation "
                "(/new clears it): {left} left. It resets {when}."
            ).format(left=format_usd(remaining), when=when(resets_at, now))
        case CapReachedWithHistory(refused=refused):  # the bot's overall limit: the conversation is no matter
            return refusal(refused, now)
        case Blocked():
            return _("You are blocked from using this bot.")
        case NotOwner(command=command):
            return _("/{command} is for the bot's owner only.").format(command=command)
        case NotPrivate(command=command, voided=True):
            return _(
                "Send /{command} to me in a private chat, never where others can read it: that code was "
                "seen here, so it no longer works. Send /link privately on your other account for a new one."
            ).format(command=command)
        case NotPrivate(command=command):
            secret = _(_SECRETS.get(command, N_("a secret")))
            return _(
                "Send /{command} to me in a private chat: {secret} must not be seen by anyone else. "
                "Nothing was issued here."
            ).format(command=command, secret=secret)
        case NotAllowed(user=user):
            return _("This bot is private. Send your id {user} to its owner to be let in.").format(user=user)
        case RateLimited(retry_in_seconds=seconds, reason="in_flight"):
            return _("You already have answers in progress; try again in {seconds} s.").format(
                seconds=seconds
            )
        case RateLimited(retry_in_seconds=seconds):
            return _("Too many requests; try again in {seconds} s.").format(seconds=seconds)
        case FileNotTaken(reason="too_big", limit_mb=limit):
            return _("That file is too big: I take files up to {limit} MB.").format(
                limit=f"{limit.normalize():f}"
            )
        case FileNotTaken(reason="download_failed"):
            return _("I couldn't download that file; please send it again.")
        case FileNotTaken():
            return _("I can read images and voice notes or audio files, not this kind of file.")
        case QueueFull(waiting=waiting):
            return _(
                "You have {waiting} messages waiting for an answer; I'll skip new ones until I catch up."
            ).format(waiting=waiting)
        case BadArguments(problem=problem, usage=usage):
            if usage:
                return _("{problem}. Usage: {usage}").format(problem=problem, usage=_(usage))
            return f"{problem}."
        case ModelUnavailable(model_id=model_id, kind=kind):
            failure = _PROVIDER_FAILURES.get(kind, N_("{model} failed. You were not charged."))
            return _(failure).format(model=model_id)
        case BadAmount():
            return f"{exc}."
        case BadAttachment(reason=reason):
            return _("I can't use that file: {reason}. Nothing was charged.").format(reason=reason)
        case TooManyImages(limit=0):
            return _("This bot doesn't take images. Nothing was charged.")
        case TooManyImages(limit=limit):
            return ngettext(
                "Send at most {limit} image in one message. Nothing was charged.",
                "Send at most {limit} images in one message. Nothing was charged.",
                limit,
            ).format(limit=limit)
        case AudioTooLong(limit=0):
            return _("This bot doesn't take voice notes or audio. Nothing was charged.")
        case AudioTooLong(seconds=seconds, limit=limit):
            return _("That audio is {seconds} s long; I take up to {limit} s. Nothing was charged.").format(
                seconds=seconds, limit=limit
            )
        case CannotSee(model_id=model_id, seeing=seeing) if seeing:
            return _("{model} can't see images. Pick one that can with /model: {models}.").format(
                model=model_id, models=", ".join(seeing)
            )
        case CannotSee(model_id=model_id):
            return _("{model} can't see images, and no model on this bot can. Nothing was charged.").format(
                model=model_id
            )
        case NoTranscription():
            return _("This bot has no model to transcribe voice notes; send your question as text.")
        case UnknownUser(name=name) if name.startswith("@"):
            return _(
                "I don't know {name}: nobody with that username has written to the bot yet. "
                "Name them by platform:id (e.g. telegram:12345), or in a chat reply to their message."
            ).format(name=name)
        case UnknownUser(name=name):
            return _(
                "I don't know {name}: use platform:id (e.g. telegram:12345), "
                "an @username the bot has seen, or in a chat a reply to their message."
            ).format(name=name or _("an empty name"))
        case AmbiguousUser(name=name, matches=matches):
            return _("{name} could be {matches}; name them by platform:id.").format(
                name=name, matches=", ".join(matches)
            )
        case LinkRefused(
            reason="owner_blocked", detail=detail
        ):  # owners can't be blocked, not even by a link
            return _("{detail}; unblock them first.").format(detail=detail)
        case LinkRefused(reason=reason):
            return _(_LINK_REFUSALS.get(reason, N_("Those identities can't be linked"))) + "."
        case OwnerProtected():
            return owner_protected(exc) + "."
        case UnknownKey(user=user, key=key):
            return _("{key} is not a live key of {user}; list them to see their ids and prefixes.").format(
                key=key, user=user
            )
        case TooManyKeys(user=user, limit=limit):
            return _("{user} already has {limit} live keys; revoke one before making another.").format(
                user=user, limit=limit
            )
        case DatabaseBusy():
            return _("The bot's database is busy; try again in a moment. Nothing was charged.")
        case BadKey():
            return _(
                "Send your capbot key as Authorization: Bearer <key>; this one is missing, wrong or revoked. "
                "The bot's owner issues keys."
            )
        case Restarting():
            return _(RESTARTING)
    return _("That can't be done.")  # a refusal nobody worded yet: still one line that changes nothing


# Fixed lines, marked here and translated where they are said (`_(RESTARTING)`).
# While a stop finishes the answers in progress, to anyone who asks something new.
RESTARTING = N_("The bot is restarting; ask again in a moment.")

# The one apology for the unexpected, from the core and from the adapters alike.
UNEXPECTED = N_("Sorry, something went wrong on our side; please try again. The owner's log has the details.")
NO_PROVIDER = N_("No model is available: the owner has not set up a provider key.")
NO_PRICED_MODEL = N_("No model is available: none of the configured providers' models has a known price.")


# How much of a transcript the person is shown before their answer: enough to see it was heard right.
HEARD_SHOWN = 300


def heard(transcript: str) -> str:
    """The transcript of a voice note, quoted (and shortened) before it is answered as the question."""
    shown = transcript if len(transcript) <= HEARD_SHOWN else transcript[: HEARD_SHOWN - 1] + "…"
    return f'🎤 "{shown}"'


def no_speech() -> str:
    return _("I heard no words in that recording.")


# Stop, as the answer and the person who pressed it read it (translated where shown)
STOPPED_NOTE = N_("(stopped)")
STOPPING = N_("Stopping.")
STOP_NOT_YOURS = N_("Only the person who asked can stop this answer.")
STOP_FINISHED = N_("This answer has already finished.")
