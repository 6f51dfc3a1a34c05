"""`python -m bot users list|show|cap|block|unblock|unlink|usage`: the owner's controls from a shell.

Opens the bot's own database (DATABASE_URL) and acts through `bot.owner`, the same rules and parsing as
the chat commands and the API, so it is safe to run while the bot is up. A refusal prints one line to
stderr and exits 1 with nothing changed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import NoReturn, TextIO

from bot.config import Settings
from bot.ledger import Ledger
from bot.money import format_usd
from bot.owner import OwnerActions, is_owner, parse_cap, usage_text
from bot.refusals import Refusal
from bot.storage import DatabaseError, open_database
from bot.wording import refusal

CAP_USAGE = "python -m bot users cap <user> <amount|unlimited|default> [daily|weekly|monthly|total|default]"


class OneLineParser(argparse.ArgumentParser):
    """argparse answers a usage error with two lines (the usage, then the error); the owner gets one.

    Bad input from the owner's CLI is one line on stderr, like every other refusal; the exit code stays
    argparse's 2 for a command line that could not be read (1 is a refusal of a well-formed one).
    """

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        self.exit(2, f"capbot: {message}. Usage: {usage}\n")


def add_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register `users` and its sub-commands on the main parser."""
    users = sub.add_parser("users", help="owner's controls: list, show, cap, block, unblock, unlink, usage")
    act = users.add_subparsers(dest="action", required=True)
    act.add_parser("list", help="every account, biggest spender this period first")
    act.add_parser("show", help="one person's spend, cap and status").add_argument("user")
    cap = act.add_parser("cap", help="set a cap (and optionally its period)")
    cap.add_argument("user")
    cap.add_argument("amount", help="dollars, unlimited or default")
    cap.add_argument("period", nargs="?", help="daily, weekly, monthly, total or default")
    act.add_parser("block", help="block someone").add_argument("user")
    act.add_parser("unblock", help="unblock someone").add_argument("user")
    act.add_parser("unlink", help="split someone off the allowance they share").add_argument("user")
    act.add_parser("usage", help="usage per model this period").add_argument("user", nargs="?")


# One owner action from a shell: the settings, the bot's ledger, the parsed command line, where to print.
Act = Callable[[Settings, Ledger, argparse.Namespace, TextIO], Awaitable[None]]


async def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out one `users` action; 0 on success, 1 (one line on stderr) when refused."""
    return await on_ledger(settings, _act, args, out)


async def on_ledger(settings: Settings, act: Act, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Open the bot's database and run `act` on its ledger: 0 when done, 1 (one line on stderr) for a
    refusal, which changed nothing, and 2 when the database can't be opened. Shared by the owner's CLIs."""
    try:
        db = await open_database(settings.database_url, pool_size=settings.database_pool_size)
    except DatabaseError as exc:
        print(f"capbot: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = Ledger.from_settings(db, settings)
        await act(settings, ledger, args, out or sys.stdout)  # read at call time: it may be replaced
        return 0
    except Refusal as exc:
        print(f"capbot: {refusal(exc, ledger.now())}", file=sys.stderr)
        return 1
    finally:
        await db.close()


async def _act(settings: Settings, ledger: Ledger, args: argparse.Namespace, out: TextIO) -> None:
    # every action that names someone ends by printing their standing, so the owner sees the effect
    actions = OwnerActions(ledger, partial(is_owner, settings))
    action = args.action
    if action == "list":
        found = await actions.everyone()
        cap = format_usd(ledger.default_cap)
        print(f"{len(found)} accounts; default cap {cap} ({ledger.default_period})", file=out)
        for report in found:
            print(actions.describe(report), file=out)
        return
    if action == "usage":
        who = await actions.resolve(args.user) if args.user else None
        print(usage_text(await actions.usage(who)), file=out)
        return
    user = await actions.resolve(args.user)
    if action == "cap":
        report = await actions.set_cap(user, parse_cap(args.amount, args.period, CAP_USAGE))
    elif action in ("block", "unblock"):
        report = await actions.set_blocked(user, action == "block")
    elif action == "unlink":
        done = await actions.unlink(user)
        for who in (done.account, *done.split):
            print(actions.describe(await actions.standing(who)), file=out)
        return
    else:
        report = await actions.standing(user)
    print(actions.describe(report), file=out)
