"""Owner actions, one rule set for every surface: chat commands, the CLI, the HTTP API (and the dashboard).

Each surface reads its own input (chat words, argv, JSON) into the values here and then calls one
`OwnerActions` method, so a cap typed in chat, given on the command line or PUT over HTTP is parsed by
the same code, checked by the same rules and written by the same ledger call. Every check happens before
that one write, so a refusal changes nothing. Owners are `OWNER_IDS` plus whoever sits at the console;
nothing can block them, not even a block of an identity that shares their allowance.

Text surfaces (chat, CLI) word a person's standing with `describe` and usage with `usage_text`; the API
renders the same reports as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import _, number
from bot.incoming import is_identity
from bot.ledger import (
    KEY_PREFIX,
    PERIODS,
    SHOWN_PREFIX,
    AccountReport,
    IssuedKey,
    KeyInfo,
    Ledger,
    ModelUsage,
    Period,
    Unlinked,
    period_start,
)
from bot.money import BadAmount, format_usd, parse_usd, spent_and_left
from bot.refusals import AmbiguousUser, BadArguments, UnknownKey, UnknownUser
from bot.wording import per_period, this_period

if TYPE_CHECKING:
    from bot.config import Settings


def is_owner(settings: Settings, user: str) -> bool:
    """OWNER_IDS, and whoever sits at the server's console (only the owner can type there)."""
    return user in settings.owner_ids or user.startswith("console:")


def looks_like_user(word: str) -> bool:
    """Whether a word names a person (`@name`, `platform:id`) rather than an amount or a link code."""
    return word.startswith("@") or (":" in word and not word.startswith(":"))


@dataclass(frozen=True)
class CapChange:
    """A cap to set: an amount (None: back to the default) or unlimited, and a period (None: default)."""

    cap: int | None
    unlimited: bool
    period: Period | None
    keep_period: bool  # no period was given: keep the person's current one


def parse_cap(amount: str, period: str | None, usage: str = "") -> CapChange:
    """`5`, `$0.25`, `unlimited` or `default`, and optionally a period; anything else is `BadArguments`
    carrying the surface's `usage` line."""
    word = amount.strip().lower()
    cap: int | None
    if word == "unlimited":
        cap, unlimited = None, True
    elif word == "default":
        cap, unlimited = None, False
    else:
        try:
            cap, unlimited = parse_usd(amount), False
        except BadAmount as exc:
            raise BadArguments(str(exc)[:1].upper() + str(exc)[1:], usage) from None
    return CapChange(cap, unlimited, parse_period(period, usage), keep_period=period is None)


def parse_period(period: str | None, usage: str = "") -> Period | None:
    """A period name, or None for "the default"; anything else is refused with the names that work."""
    if period is None or period.strip().lower() == "default":
        return None
    word = period.strip().lower()
    for name in PERIODS:
        if word == name:
            return name
    raise BadArguments(
        _("'{period}' is not a period (daily, weekly, monthly, total or default)").format(period=period),
        usage,
    )


MAX_KEY_NAME = 40  # characters: a label for a list line, not a description


def parse_key_name(name: str | None, usage: str = "") -> str:
    """A key's label: one line of at most `MAX_KEY_NAME` printable characters ("" for none). A name that
    looks like a key is refused, so no list line can ever carry a secret pasted in by mistake."""
    text = " ".join((name or "").split())
    if not text.isprintable() or text.startswith(KEY_PREFIX):
        raise BadArguments(_("A key name is a short label such as laptop"), usage)
    if len(text) > MAX_KEY_NAME:
        raise BadArguments(_("A key name is at most {limit} characters").format(limit=MAX_KEY_NAME), usage)
    return text


def shown_key(key: str) -> str:
    """A key named in a reply or a refusal: whatever was typed, never more than a shown prefix, so a whole
    secret typed where an id was expected is not echoed back."""
    key = " ".join(key.split())
    return key if len(key) <= SHOWN_PREFIX else key[:SHOWN_PREFIX] + "…"


def key_line(key: KeyInfo, *, with_user: bool = False) -> str:
    """One key for text surfaces: id, prefix, name, when made and last used (never the secret)."""
    if key.last_used_at is None:
        used = _("never used")
    else:
        used = _("last used {time} UTC").format(time=f"{key.last_used_at:%Y-%m-%d %H:%M}")
    name = f" {key.name!r}" if key.name else ""
    who = f" {key.user}" if with_user else ""
    line = f"#{key.id}{who} {key.prefix}…{name}, " + _("made {time} UTC, {used}").format(
        time=f"{key.created_at:%Y-%m-%d %H:%M}", used=used
    )
    if key.revoked_at is not None:
        line += _(", revoked {time} UTC").format(time=f"{key.revoked_at:%Y-%m-%d %H:%M}")
    return line


@dataclass(frozen=True)
class PeriodUsage:
    """Usage per model in the current period of one account, or of everyone (`user` None)."""

    user: str | None  # the account, whichever of its identities was named
    period: Period
    since: datetime | None  # None: the period is all time
    rows: list[ModelUsage]


class OwnerActions:
    """What an owner can do, over one ledger. `is_owner` names the people no block may ever reach."""

    def __init__(self, ledger: Ledger, is_owner: Callable[[str], bool]) -> None:
        self.ledger = ledger
        self.is_owner = is_owner

    async def resolve(self, name: str, *, platform: str | None = None) -> str:
        """The identity an owner means by `platform:id` or `@username`, or `UnknownUser`/`AmbiguousUser`.

        Any well-formed `platform:id` names someone, known or not: like a provisioning API, an owner may
        cap or block a person before they ever write (the account is made with the setting). An
        `@username` names only someone the bot has seen; the same handle may be known on two platforms,
        and `platform` (the asker's) breaks that tie.
        """
        name = name.strip()
        if is_identity(name):
            return name
        found = await self.ledger.find_identities(name)
        if len(found) > 1 and platform is not None:
            same = [f for f in found if f.startswith(platform + ":")]
            found = same if len(same) == 1 else found
        if not found:
            raise UnknownUser(name.strip())
        if len(found) > 1:
            raise AmbiguousUser(name.strip(), tuple(found))
        return found[0]

    async def standing(self, user: str) -> AccountReport:
        """One person's standing this period, by any identity of their account."""
        return await self.ledger.account(user)

    async def everyone(self, *, limit: int | None = None) -> list[AccountReport]:
        """Every account, biggest spender this period first (`limit`: only the top ones)."""
        return await self.ledger.accounts(limit=limit)

    async def set_cap(self, user: str, change: CapChange) -> AccountReport:
        """The one write behind /cap, `users cap` and the API's limit; returns the standing after it."""
        period = change.period
        if change.keep_period:
            period = (await self.ledger.profile(user)).period
        await self.ledger.set_cap(user, change.cap, unlimited=change.unlimited, period=period)
        return await self.standing(user)

    async def set_period(self, user: str, period: Period | None) -> AccountReport:
        """A new period with the same cap (the API's PATCH of `period` alone)."""
        profile = await self.ledger.profile(user)
        change = CapChange(profile.cap, profile.unlimited, period, keep_period=False)
        return await self.set_cap(user, change)

    async def set_blocked(self, user: str, blocked: bool) -> AccountReport:
        """Block or unblock the whole account. A block that would reach an owner raises `OwnerProtected`,
        checked inside the ledger's write, so a `/link` landing meanwhile can't slip an owner in."""
        await self.ledger.set_blocked(user, blocked, protected=self.is_owner)
        return await self.standing(user)

    async def reset(self, user: str) -> AccountReport:
        """Forget the owner's settings for a person (cap, period, block, model); charges are kept."""
        await self.ledger.reset_settings(user)
        return await self.standing(user)

    async def unlink(self, user: str) -> Unlinked:
        """Split someone off the allowance they share (chat /unlink <user>, `users unlink`, the API).

        The owner may split at any time (no answers in flight); the spend stays with the account it was
        paid from and the identity split off starts afresh with its own settings (`Ledger.unlink`).
        """
        return await self.ledger.unlink(user, protected=self.is_owner)

    async def usage(self, user: str | None) -> PeriodUsage:
        """A person's usage per model in their own period; everyone's in the default period (people's
        periods differ, so there is no one "their period" for everyone)."""
        if user is None:
            who, period = None, self.ledger.default_period
        else:  # the account and its period: one read (the full standing would also read its members)
            summary = await self.ledger.summary(user)
            who, period = summary.user, summary.period
        since = period_start(period, self.ledger.now())
        return PeriodUsage(who, period, since, await self.ledger.usage_by_model(who, since))

    async def create_key(self, user: str, name: str | None = None, *, usage: str = "") -> IssuedKey:
        """A gateway key for `user` (the CLI, the API, a person's own /key): it spends their allowance
        under every rule chat does. `name` is checked by `parse_key_name`; the secret is in the result
        only, for the one reply that shows it. `usage`: the surface's usage line for a bad name."""
        return await self.ledger.create_key(user, parse_key_name(name, usage))

    async def keys(self, user: str | None) -> list[KeyInfo]:
        """The live keys spending one person's allowance (every identity of it), or everyone's."""
        return await self.ledger.keys(user)

    async def revoke_key(self, user: str, key: str) -> KeyInfo:
        """Revoke one live key of `user`'s account by id or shown prefix; `UnknownKey` when none is."""
        revoked = await self.ledger.revoke_key(user, key)
        if revoked is None:
            raise UnknownKey(user, shown_key(key))
        return revoked

    def describe(self, report: AccountReport) -> str:
        """One line about one account for text surfaces (see `describe`)."""
        return describe(report, owner=self.is_owner(report.user))


def describe(report: AccountReport, *, owner: bool = False) -> str:
    """One line about one account: spent, cap, what is left, held, linked identities, owner, blocked."""
    name = report.user + (f" (@{report.username})" if report.username else "")
    spent, left = spent_and_left(report.spent, report.remaining or 0)
    period = report.period
    if report.cap is None:
        line = _("{name}: {spent} {period}, unlimited").format(
            name=name, spent=spent, period=this_period(period)
        )
    else:
        line = _("{name}: {spent} {period} of {cap} {per}, {left} left").format(
            name=name,
            spent=spent,
            period=this_period(period),
            cap=format_usd(report.cap),
            per=per_period(period),
            left=left,
        )
    if report.held:
        line += _(", {held} held").format(held=format_usd(report.held))
    if len(report.identities) > 1:
        line += _(", linked with {identities}").format(identities=", ".join(report.identities[1:]))
    if owner:
        line += _(" [owner]")
    if report.blocked:
        line += _(" [blocked]")
    return line


def usage_text(found: PeriodUsage) -> str:
    """Per model: requests, input (cached), output (reasoning) tokens, cost, and what the owner absorbed
    (reported costs above the holds) when there is any; then the total."""
    title = _("{who}, {period}").format(who=found.user or _("Everyone"), period=this_period(found.period))
    if not found.rows:
        return _("{title}: no usage.").format(title=title)
    lines = [f"{title}:"]
    for row in found.rows:
        lines.append(
            _(
                "{model}: {requests} req, {input} in ({cached} cached), "
                "{output} out ({reasoning} reasoning), {cost}"
            ).format(
                model=row.model,
                requests=number(row.requests),
                input=number(row.input_tokens),
                cached=number(row.cached_tokens),
                output=number(row.output_tokens),
                reasoning=number(row.reasoning_tokens),
                cost=format_usd(row.cost),
            )
            + _absorbed(row.absorbed)
        )
    total = sum(row.cost for row in found.rows)
    absorbed = _absorbed(sum(row.absorbed for row in found.rows))
    requests = number(sum(r.requests for r in found.rows))
    lines.append(
        _("Total: {requests} req, {cost}").format(requests=requests, cost=format_usd(total)) + absorbed
    )
    return "\n".join(lines)


def _absorbed(nanos: int) -> str:
    """What the owner paid beyond the holds; nothing when they paid nothing extra."""
    return _(" (+{amount} absorbed by the owner)").format(amount=format_usd(nanos)) if nanos else ""
