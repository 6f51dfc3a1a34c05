"""One person, several platforms: one-time link codes and the merge of two accounts into one allowance.

A merge happens in one write transaction with both account rows locked (in a fixed order):
- the absorbed account's running totals are added to the surviving account's, key by key, and its charges
  (with their usage rollups) move along, so per account and period spent == sum of charges still holds
  and no charge is lost;
- it is refused while the absorbed account has answers in flight (open holds): a hold settles against the
  account it was taken from, which must still exist when it does;
- the surviving account keeps its cap and period; a block on either side carries over (so a merge that
  would put an owner's identity in a blocked account is refused: owners can't be blocked). If the combined
  spend is above the surviving cap, new answers are refused until the period resets, exactly as when an
  owner lowers a cap: nothing already charged is undone and nothing more is allowed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.i18n import _
from bot.ledger.accounts import Accounts, Protected
from bot.ledger.periods import period_key
from bot.ledger.rollups import move_rollups
from bot.refusals import Refusal
from bot.storage import DatabaseBusy, Row, Tx

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 8  # 32**8 ≈ 10**12 codes; with a 10-minute life and rate limits, not guessable
CODE_TTL = timedelta(minutes=10)

LinkReason = Literal[
    "bad_code", "same_account", "in_flight", "self", "owner_blocked", "blocked", "not_linked", "spent"
]


class LinkRefused(Refusal):
    """A link that did not happen, and why (`reason`), so each surface can word it for the person."""

    def __init__(self, reason: LinkReason, detail: str = "") -> None:
        super().__init__(f"link refused: {reason}")
        self.reason: LinkReason = reason
        self.detail = detail  # for "owner_blocked": which account is blocked and which owner it would block


@dataclass(frozen=True)
class Linked:
    """The result of a link: who now shares one allowance, for the confirmation people see."""

    account: str  # the surviving account
    absorbed: str  # the account that was folded into it
    identities: tuple[str, ...]  # every identity now spending from `account`


@dataclass(frozen=True)
class Unlinked:
    """The result of an unlink: the account that stays, and the identities that left it."""

    account: str  # keeps its id, settings, charges and running totals
    split: tuple[str, ...]  # each is its own account again, with its own settings and nothing spent
    identities: tuple[str, ...]  # who still spends from `account` (at least the account itself)


def _digest(code: str) -> str:
    # only a hash is stored: a database dump does not hand out live codes
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    """The code as issued, whatever people did to it when typing it (case, dashes, spaces)."""
    return code.strip().upper().replace("-", "").replace(" ", "")


def looks_like_code(text: str) -> bool:
    """Whether `/link TEXT` is redeeming a code rather than naming identities to link."""
    code = normalize_code(text)
    return len(code) == CODE_LENGTH and all(c in CODE_ALPHABET for c in code)


class Links(Accounts):
    """The part of the ledger that folds one person's identities into one account (see the module)."""

    async def issue_code(self, user: str) -> tuple[str, datetime]:
        """A fresh single-use code for `user` and when it expires; earlier codes of theirs stop working."""
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        moment = self.now()
        expires = moment + CODE_TTL
        async with self.db.write() as tx:
            await tx.execute(
                "DELETE FROM link_codes WHERE user_id = ? OR expires_at <= ?", user, int(moment.timestamp())
            )
            await tx.execute(
                "INSERT INTO link_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)",
                _digest(code),
                user,
                int(expires.timestamp()),
            )
        return f"{code[:4]}-{code[4:]}", expires

    async def redeem_code(self, user: str, code: str, *, protected: Protected | None = None) -> Linked:
        """Join `user`'s account into the account of whoever issued `code`. The code is used up on success.

        `protected` identities (the owners) are never joined with a blocked account: the block would carry
        over to them.
        """
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT user_id, expires_at FROM link_codes WHERE code_hash = ?", _digest(code)
            )
            if row is None or int(row["expires_at"]) <= now:
                raise LinkRefused("bad_code")
            issuer = str(row["user_id"])
            if issuer == user:
                raise LinkRefused("self")
            linked = await self._merge(tx, issuer, user, now, protected)
            # issue 13: a code shares the issuer's allowance, nothing more; a block carried over by the merge
            # (the issuer blocked since, or the redeemer blocked) would be a block nobody chose: refused
            if await self._blocked(tx, linked.account):
                raise LinkRefused("blocked")
            await tx.execute("DELETE FROM link_codes WHERE code_hash = ?", _digest(code))
        return linked

    async def void_code(self, code: str) -> bool:
        """Make a code unusable (it was seen where others can read it); whether there was one to void.

        A code shared in a group could be redeemed by anyone there, joining them to the issuer's allowance.
        """
        async with self.db.write() as tx:
            row = await tx.fetchone("SELECT code_hash FROM link_codes WHERE code_hash = ?", _digest(code))
            await tx.execute("DELETE FROM link_codes WHERE code_hash = ?", _digest(code))
        return row is not None

    @staticmethod
    async def _blocked(tx: Tx, account: str) -> bool:
        row = await tx.fetchone("SELECT blocked FROM users WHERE user_id = ?", account)
        return row is not None and bool(row["blocked"])

    async def unlink(
        self, identity: str, *, self_service: bool = False, protected: Protected | None = None
    ) -> Unlinked:
        """Split `identity` off the account it shares: it becomes its own account again.

        - The account keeps its id, settings, charges and running totals: money stays where it was paid
          from, so per account and period spent == sum of charges still holds. The identity split off
          takes back its own settings (cap, period, model: its users row was kept at the merge) and starts
          with nothing spent.
        - Unlinking the account itself (the surviving identity of the merges) splits off every identity
          linked into it; the account stays with it.
        - A split changes who pays, not who may use the bot: an identity split off a blocked account is
          blocked too (unless it is `protected`, an owner), and a block never reaches the account by it.
        - Refused while the account has answers in flight (they settle against it), and for an identity
          that shares nothing.
        - `self_service` (the person, not the owner, asks): refused while the account has spent anything
          in the current period of an identity leaving it, because that spend can't be split back and a
          link → spend → unlink cycle would otherwise start each identity afresh, past its cap.
        """
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            account = await self.account_of(tx, identity)
            leaving = [identity] if account != identity else (await self.members(tx, account))[1:]
            if not leaving:
                raise LinkRefused("not_linked")
            rows = {who: await self.lock_user(tx, who, now) for who in sorted({account, *leaving})}
            # PostgreSQL: a merge or another unlink may have committed while we waited for the locks
            if [await self.account_of(tx, who) for who in leaving] != [account] * len(leaving):
                raise DatabaseBusy("accounts changed while unlinking")
            if int(rows[account]["held"]):
                raise LinkRefused("in_flight")
            if self_service:
                for who in leaving:
                    _, period = self.limits(rows[who])  # the period it will have on its own
                    if await self._spent(tx, account, period_key(period, self.now())):
                        raise LinkRefused("spent")
            blocked = bool(rows[account]["blocked"])
            for who in leaving:
                keep_blocked = blocked and not (protected is not None and protected(who))
                await tx.execute("DELETE FROM links WHERE identity = ?", who)
                await tx.execute(
                    "UPDATE users SET blocked = ?, updated_at = ? WHERE user_id = ?",
                    int(keep_blocked),
                    now,
                    who,
                )
            return Unlinked(account, tuple(leaving), tuple(await self.members(tx, account)))

    async def link(self, keep: str, join: str, *, protected: Protected | None = None) -> Linked:
        """The owner's direct link: `join`'s account folds into `keep`'s (`protected`: see redeem_code)."""
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            return await self._merge(tx, keep, join, now, protected)

    async def _merge(
        self, tx: Tx, keep_identity: str, join_identity: str, now: int, protected: Protected | None = None
    ) -> Linked:
        """Fold `join_identity`'s account into `keep_identity`'s inside `tx` (see the module for the rules).

        Locks: both users rows in sorted order and never the global row. Every other writer holds one users
        row (then perhaps the global row) and re-resolves its account once that row is locked
        (`_on_account`), so no two writers ever wait for each other in a cycle, and a reserve that resolved
        the absorbed account before this commits starts over on the survivor. What guards the merge is read
        under those locks: the accounts are resolved again (another merge may have committed while we
        waited), and "nothing in flight" (no open hold on the absorbed account) is read once its row is
        ours, so a hold taken while this waited refuses the merge, and an open hold's account is never
        folded away before it settles.
        """
        keep = await self.account_of(tx, keep_identity)
        gone = await self.account_of(tx, join_identity)
        if keep == gone:
            raise LinkRefused("same_account")
        rows = {account: await self.lock_user(tx, account, now) for account in sorted((keep, gone))}
        # PostgreSQL: another merge may have committed while we waited for the locks
        if (
            await self.account_of(tx, keep_identity) != keep
            or await self.account_of(tx, join_identity) != gone
        ):
            raise DatabaseBusy("accounts changed while linking")
        # open holds, not their sum: a free model's hold is 0 and still settles on this account; a reserve
        # inserts its hold under this row's lock, which we hold, so none can appear before we commit
        if await tx.fetchone("SELECT id FROM holds WHERE user_id = ? LIMIT 1", gone):
            raise LinkRefused("in_flight")
        if protected is not None:
            await self._refuse_blocking_protected(tx, rows, protected)
        totals = await tx.fetchall("SELECT period_key, spent FROM totals WHERE scope = ?", gone)
        for total in totals:
            await tx.execute(
                "INSERT INTO totals (scope, period_key, spent) VALUES (?, ?, ?)"
                " ON CONFLICT (scope, period_key) DO UPDATE SET spent = totals.spent + excluded.spent",
                keep,
                total["period_key"],
                int(total["spent"]),
            )
        await tx.execute("DELETE FROM totals WHERE scope = ?", gone)
        await tx.execute("UPDATE charges SET user_id = ? WHERE user_id = ?", keep, gone)
        await move_rollups(tx, gone, keep)
        await tx.execute("UPDATE links SET account = ? WHERE account = ?", keep, gone)
        await tx.execute("INSERT INTO links (identity, account, linked_at) VALUES (?, ?, ?)", gone, keep, now)
        gone_row = await tx.fetchone("SELECT model, blocked FROM users WHERE user_id = ?", gone)
        assert gone_row is not None
        await tx.execute(
            "UPDATE users SET blocked = CASE WHEN blocked = 1 OR ? = 1 THEN 1 ELSE 0 END,"
            " model = COALESCE(model, ?), updated_at = ? WHERE user_id = ?",
            int(gone_row["blocked"]),
            gone_row["model"],
            now,
            keep,
        )
        return Linked(keep, gone, tuple(await self.members(tx, keep)))

    async def _refuse_blocking_protected(self, tx: Tx, rows: dict[str, Row], protected: Protected) -> None:
        """A block on either side carries over: refuse when it would reach a protected identity (an owner)."""
        blocked = next((account for account, row in rows.items() if row["blocked"]), None)
        if blocked is None:
            return
        for account in rows:
            owner = await self._protected_member(tx, account, protected)
            if owner is not None:
                raise LinkRefused(
                    "owner_blocked",
                    _("{user} is blocked, and linking would block the owner {owner} too").format(
                        user=blocked, owner=owner
                    ),
                )
