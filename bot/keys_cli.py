"""`python -m bot keys create|list|revoke`: the owner hands out and takes back gateway keys from a shell.

Acts through `bot.owner` on the bot's own database, like `users` (safe while the bot runs). `create`
prints the new key alone on stdout, so `python -m bot keys create telegram:2 > key.txt` captures just the
secret, and says what it made on stderr: the secret is shown this once and stored only as a hash. A
refusal prints one line to stderr and exits 1 with nothing changed.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TextIO

from bot.cli import OneLineParser, on_ledger
from bot.config import Settings
from bot.ledger import Ledger
from bot.owner import OwnerActions, is_owner, key_line

NAME_USAGE = "python -m bot keys create <user> [--name NAME]"


def add_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register `keys` and its sub-commands on the main parser."""
    keys = sub.add_parser(
        "keys", help="gateway keys: create, list, revoke (each spends one person's allowance)"
    )
    act = keys.add_subparsers(dest="action", required=True)
    create = act.add_parser("create", help="make a key for someone; it is shown once")
    create.add_argument("user")
    create.add_argument("--name", help="a label to tell the key apart, e.g. laptop")
    act.add_parser("list", help="live keys, of everyone or one person").add_argument("user", nargs="?")
    revoke = act.add_parser("revoke", help="stop a key at once")
    revoke.add_argument("user")
    revoke.add_argument("key", help="the key's id or its shown prefix (capbot-xxxxx)")


async def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out one `keys` action; 0 on success, 1 (one line on stderr) when refused."""
    return await on_ledger(settings, _act, args, out)


async def _act(settings: Settings, ledger: Ledger, args: argparse.Namespace, out: TextIO) -> None:
    actions = OwnerActions(ledger, partial(is_owner, settings))
    if args.action == "list":
        who = await actions.resolve(args.user) if args.user else None
        found = await actions.keys(who)
        print(f"{len(found)} live keys" + (f" spending {who}'s allowance" if who else ""), file=out)
        for key in found:
            print(key_line(key, with_user=True), file=out)
        return
    user = await actions.resolve(args.user)
    if args.action == "create":
        issued = await actions.create_key(user, args.name, usage=NAME_USAGE)
        print(issued.secret, file=out)
        name = f" {issued.name!r}" if issued.name else ""
        print(
            f"Key #{issued.id}{name} for {user} ({issued.prefix}…): shown only this once, stored as a hash. "
            "It spends their allowance at /v1 (GATEWAY=1).",
            file=sys.stderr,
        )
        return
    revoked = await actions.revoke_key(user, args.key)
    print("Revoked " + key_line(revoked, with_user=True), file=out)
