"""Owner commands (/cap /block /unblock /users /usage) and /link, which everyone may use.

`<user>` is `platform:id`, an `@username` the bot has seen, or (leaving it out) a reply to that person's
message. Every check happens before the one ledger call that changes anything, so a refusal changes
nothing. The parsing helpers are shared with the CLI and the HTTP API so all three accept the same input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from bot.commands.base import FREE_TEXT, Command, Context
from bot.ledger import Ledger, Period
from bot.ledger.links import issue_code, link, looks_like_code, redeem_code
from bot.ledger.periods import period_start
from bot.ledger.records import OwnerProtected
from bot.ledger.reports import AccountReport, ModelUsage, account, accounts, find_identities, usage_by_model
from bot.money import BadAmount, format_usd, parse_usd
from bot.refusals import AmbiguousUser, BadArguments, NotOwner, UnknownUser
from bot.wording import PER_PERIOD, THIS_PERIOD, when

PERIOD_NAMES: tuple[Period, ...] = get_args(Period)


@dataclass(frozen=True)
class CapChange:
    """What `/cap` asked for: a cap (None: back to the default), unlimited, and a period (None: default)."""

    cap: int | None
    unlimited: bool
    period: Period | None
    keep_period: bool  # no period was given: keep the person's current one


def parse_cap(amount: str, period: str | None, usage: str) -> CapChange:
    """`5`, `$0.25`, `unlimited` or `default`, and optionally a period; refuses anything else."""
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


def parse_period(period: str | None, usage: str) -> Period | None:
    """A period name, or None for "the default"; anything else is refused with the names that work."""
    if period is None or period.strip().lower() == "default":
        return None
    word = period.strip().lower()
    for name in PERIOD_NAMES:
        if word == name:
            return name
    raise BadArguments(f"'{period}' is not a period (daily, weekly, monthly, total or default)", usage)


async def apply_cap(ledger: Ledger, user: str, change: CapChange) -> None:
    """The one write behind /cap, the CLI and the API, after all parsing, so a refusal changes nothing."""
    period = change.period
    if change.keep_period:
        period = (await ledger.profile(user)).period
    await ledger.set_cap(user, change.cap, unlimited=change.unlimited, period=period)


async def resolve_user(ledger: Ledger, name: str, *, platform: str | None = None) -> str:
    """The identity an owner means by `platform:id` or `@username`, or `UnknownUser`/`AmbiguousUser`."""
    found = await find_identities(ledger, name)
    if len(found) > 1 and platform is not None:
        # the same handle on two platforms: the one on the asker's platform is the likely one
        same = [f for f in found if f.startswith(platform + ":")]
        found = same if len(same) == 1 else found
    if not found:
        raise UnknownUser(name.strip())
    if len(found) > 1:
        raise AmbiguousUser(name.strip(), tuple(found))
    return found[0]


def owner_problem(refused: OwnerProtected, verb: str) -> str:
    """Why a block (or, in the API's words, a disable) was refused: a block applies to the whole account,
    so an identity linked with an owner's counts as the owner."""
    if refused.owner == refused.user:
        return f"{refused.user} is an owner; owners can't be {verb}"
    return f"{refused.user} shares an allowance with the owner {refused.owner}; owners can't be {verb}"


def looks_like_user(word: str) -> bool:
    """Whether a word names a person (`@name`, `platform:id`) rather than an amount or a link code."""
    return word.startswith("@") or (":" in word and not word.startswith(":"))


async def _target(ctx: Context, words: list[str], usage: str) -> tuple[str, list[str]]:
    """The person a command is about (first word, or the replied-to message) and the remaining words."""
    ledger = ctx.services.ledger
    platform = ctx.user.split(":", 1)[0]
    if words and looks_like_user(words[0]):
        return await resolve_user(ledger, words[0], platform=platform), words[1:]
    if ctx.incoming.reply_to_user:
        return await resolve_user(ledger, ctx.incoming.reply_to_user), words
    if words:
        raise UnknownUser(words[0])
    raise BadArguments("Say who: platform:id, @username, or reply to their message", usage)


def describe(report: AccountReport, *, owner: bool = False) -> str:
    """One line about one account: spent, cap, what is left, held, blocked, reset."""
    name = report.user + (f" (@{report.username})" if report.username else "")
    spent = f"{format_usd(report.spent)} {THIS_PERIOD[report.period]}"
    if report.cap is None:
        line = f"{name}: {spent}, unlimited"
    else:
        left = format_usd(max(report.remaining or 0, 0))
        line = f"{name}: {spent} of {format_usd(report.cap)} {PER_PERIOD[report.period]}, {left} left"
    if report.held:
        line += f", {format_usd(report.held)} held"
    if len(report.identities) > 1:
        line += f", linked with {', '.join(report.identities[1:])}"
    if owner:
        line += " [owner]"
    if report.blocked:
        line += " [blocked]"
    return line


async def cap(ctx: Context) -> None:
    """/cap: set the cap, then show the result, warning when it already leaves nothing to spend."""
    usage = USAGE["cap"]
    user, rest = await _target(ctx, ctx.args.split(), usage)
    if not rest or len(rest) > 2:
        raise BadArguments("Give an amount (e.g. 5), unlimited or default, then optionally a period", usage)
    change = parse_cap(rest[0], rest[1] if len(rest) > 1 else None, usage)
    ledger = ctx.services.ledger
    await apply_cap(ledger, user, change)
    report = await account(ledger, user)
    line = "Cap set. " + describe(report, owner=ctx.services.is_owner(report.user))
    if report.remaining is not None and report.remaining <= 0:
        resets = when(report.resets_at, ctx.services.clock())
        line += f". New answers are refused until the period resets, {resets}"
    await ctx.reply.text(line + ".")


async def _set_blocked(ctx: Context, blocked: bool) -> None:
    usage = USAGE["block" if blocked else "unblock"]
    user, rest = await _target(ctx, ctx.args.split(), usage)
    if rest:
        raise BadArguments(f"Unexpected '{' '.join(rest)}'", usage)
    try:
        await ctx.services.ledger.set_blocked(user, blocked, protected=ctx.services.is_owner)
    except OwnerProtected as refused:
        raise BadArguments(owner_problem(refused, "blocked"), usage) from None
    state = "Blocked" if blocked else "Unblocked"
    await ctx.reply.text(
        f"{state} {user}. "
        + describe(await account(ctx.services.ledger, user), owner=ctx.services.is_owner(user))
    )


async def block(ctx: Context) -> None:
    """/block: refused for owners and anyone sharing an owner's allowance."""
    await _set_blocked(ctx, True)


async def unblock(ctx: Context) -> None:
    """/unblock: always allowed, so a mistaken block is undone in one step."""
    await _set_blocked(ctx, False)


async def users(ctx: Context) -> None:
    """/users: the top spenders only (`TOP`), so the answer fits one chat message."""
    if ctx.args.strip():
        raise BadArguments("/users takes no arguments", USAGE["users"])
    services = ctx.services
    found = await accounts(services.ledger, limit=TOP)
    if not found:
        await ctx.reply.text("Nobody has used the bot yet.")
        return
    default = f"{format_usd(services.ledger.default_cap)} {PER_PERIOD[services.ledger.default_period]}"
    lines = [f"Top spenders (default cap {default}):"]
    lines += [
        f"{n}. {describe(report, owner=services.is_owner(report.user))}"
        for n, report in enumerate(found, start=1)
    ]
    await ctx.reply.text("\n".join(lines))


async def usage(ctx: Context) -> None:
    """/usage [user]: where the money went, per model, for one person or everyone."""
    services = ctx.services
    words = ctx.args.split()
    if len(words) > 1:
        raise BadArguments("Name at most one person", USAGE["usage"])
    who: str | None = None
    if words or ctx.incoming.reply_to_user:
        who, _ = await _target(ctx, words, USAGE["usage"])
    found = await period_usage(services.ledger, who, services.clock())
    await ctx.reply.text(usage_text(f"{found.user or 'Everyone'}, {THIS_PERIOD[found.period]}", found.rows))


@dataclass(frozen=True)
class PeriodUsage:
    """Usage per model in the current period of one account, or of everyone (`user` None)."""

    user: str | None  # the account, whichever of its identities was named
    period: Period
    since: datetime | None  # None: the period is all time
    rows: list[ModelUsage]


async def period_usage(ledger: Ledger, user: str | None, now: datetime) -> PeriodUsage:
    """Shared by /usage, the CLI and the API: a person's usage in their own period; everyone's in the
    default period (people's periods differ, so there is no one "their period" for everyone)."""
    if user is None:
        who, period = None, ledger.default_period
    else:
        report = await account(ledger, user)
        who, period = report.user, report.period
    since = period_start(period, now)
    return PeriodUsage(who, period, since, await usage_by_model(ledger, who, since))


def usage_text(title: str, rows: list[ModelUsage]) -> str:
    """Per model: requests, input (cached), output (reasoning) tokens, cost; then the total."""
    if not rows:
        return f"{title}: no usage."
    lines = [f"{title}:"]
    for row in rows:
        lines.append(
            f"{row.model}: {row.requests} req, {row.input_tokens:,} in ({row.cached_tokens:,} cached), "
            f"{row.output_tokens:,} out ({row.reasoning_tokens:,} reasoning), {format_usd(row.cost)}"
        )
    total = sum(row.cost for row in rows)
    lines.append(f"Total: {sum(r.requests for r in rows)} req, {format_usd(total)}")
    return "\n".join(lines)


async def link_(ctx: Context) -> None:
    """/link: a code to redeem from one's other account, so nobody can join an account they don't hold;
    owners may also link two identities directly."""
    services = ctx.services
    ledger = services.ledger
    words = ctx.args.split()
    usage = USAGE["link"]
    if not words:
        code, expires = await issue_code(ledger, ctx.user)
        await ctx.reply.text(
            f"Your link code is {code}. Within {when(expires, services.clock())}, send /link {code} "
            "to this bot from your other account; both will then share this account's allowance. "
            "Don't show the code to anyone.",
            private=True,
        )
        return
    if len(words) == 1 and looks_like_code(words[0]):
        linked = await redeem_code(ledger, ctx.user, words[0], protected=services.is_owner)
    elif len(words) == 2 and all(looks_like_user(w) for w in words):
        if not services.is_owner(ctx.user):
            raise NotOwner("link <user> <user>")
        platform = ctx.user.split(":", 1)[0]
        keep = await resolve_user(ledger, words[0], platform=platform)
        join = await resolve_user(ledger, words[1], platform=platform)
        linked = await link(ledger, keep, join, protected=services.is_owner)
    else:
        raise BadArguments("That is not a link code", usage)
    report = await account(ledger, linked.account)
    await ctx.reply.text(
        f"Linked {', '.join(linked.identities)}: one allowance. "
        + describe(report, owner=services.is_owner(report.user))
    )


TOP = 20  # accounts /users lists: more would not fit one chat message
USAGE = {
    "cap": "/cap <user> <amount|unlimited|default> [daily|weekly|monthly|total]",
    "block": "/block <user>",
    "unblock": "/unblock <user>",
    "users": "/users",
    "usage": "/usage [user]",
    "link": "/link, then /link CODE from your other account",
}

COMMANDS = [
    Command(
        name="link",
        summary="Share one allowance across your accounts",
        usage=USAGE["link"],
        argument=FREE_TEXT,
        run=link_,
    ),
    Command(
        name="cap",
        summary="Set someone's cap and period",
        usage=USAGE["cap"],
        argument=FREE_TEXT,
        owner_only=True,
        run=cap,
    ),
    Command(
        name="block",
        summary="Block someone",
        usage=USAGE["block"],
        argument=FREE_TEXT,
        owner_only=True,
        run=block,
    ),
    Command(
        name="unblock",
        summary="Unblock someone",
        usage=USAGE["unblock"],
        argument=FREE_TEXT,
        owner_only=True,
        run=unblock,
    ),
    Command(
        name="users",
        summary="Top spenders this period",
        usage=USAGE["users"],
        argument=FREE_TEXT,
        owner_only=True,
        run=users,
    ),
    Command(
        name="usage",
        summary="Usage per model (everyone or one person)",
        usage=USAGE["usage"],
        argument=FREE_TEXT,
        owner_only=True,
        run=usage,
    ),
]
