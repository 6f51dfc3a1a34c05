"""One person, several platforms: one-time link codes and the merge of two accounts into one allowance.

A merge happens in one write transaction with both account rows locked (in a fixed order):
- the absorbed account's running totals are added to the surviving account's, key by key, and its charges
  move along, so per account and period spent == sum of charges still holds and no charge is lost;
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

from bot.ledger.accounts import Accounts, Protected
from bot.refusals import Refusal
from bot.storage import DatabaseBusy, Row, Tx

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
CODE_LENGTH = 8  # 32**8 ≈ 10**12 codes; with a 10-minute life and rate limits, not guessable
CODE_TTL = timedelta(minutes=10)

LinkReason = Literal["bad_code", "same_account", "in_flight", "self", "owner_blocked"]


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
            await tx.execute("DELETE FROM link_codes WHERE code_hash = ?", _digest(code))
        return linked

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
                    "owner_blocked", f"{blocked} is blocked, and linking would block the owner {owner} too"
                )
