"""Who spends from which account, and the owner's settings per person (cap, period, block, model).

The base of `Ledger`: identity → account resolution, the locked user row every money change starts from,
the cap and period in force, the running totals and members of an account, and the profile reads and
updates. Money moves in `ledger.py`; accounts merge in `links.py`; `reports.py` reads standings.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from bot.ledger.periods import Period
from bot.ledger.records import OwnerProtected, UserProfile
from bot.storage import Database, DatabaseBusy, Row, Tx

GLOBAL = "*"  # the scope of everyone's totals; user ids always contain a colon
MOVE_RETRIES = 5  # fresh starts when merges keep moving an account between resolving and locking it

T = TypeVar("T")

# Who may never end up in a blocked account (the owners); the ledger itself knows no owners.
Protected = Callable[[str], bool]


class _Moved(Exception):
    """The account resolved for an identity was folded into another before its row was locked."""


def utc_now() -> datetime:
    """The default clock: the ledger's periods are calendar periods in UTC."""
    return datetime.now(UTC)


class Accounts:
    """Accounts and their settings: the part of the ledger every money movement and report starts from."""

    def __init__(
        self,
        db: Database,
        *,
        default_cap_nanos: int,
        default_period: Period,
        global_cap_nanos: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.default_cap = default_cap_nanos
        self.default_period: Period = default_period
        self.global_cap = global_cap_nanos
        self._clock = clock
        self.instance = uuid.uuid4().hex  # this process's name on the holds it takes

    def now(self) -> datetime:
        """The ledger's clock (injectable in tests): what "this period" means for anyone reading it."""
        return self._clock()

    async def account_of(self, reader: Tx | Database, identity: str) -> str:
        """The account an identity spends from: its own until `/link` folds it into another.

        Every read and write of money resolves through here, so linked identities share one allowance.
        Pass the write `tx` when the answer guards a write, so a link landing meanwhile is seen.
        """
        row = await reader.fetchone("SELECT account FROM links WHERE identity = ?", identity)
        return str(row["account"]) if row else identity

    async def lock_user(self, tx: Tx, account: str, now: int) -> Row:
        """Create the account's row if needed and lock it: every money change for a person starts here.

        Two changes to one account queue behind this lock, and taking it before the global row keeps the
        lock order fixed, so concurrent reservations wait for each other instead of deadlocking.
        """
        select = "SELECT cap_nanos, unlimited, period, blocked, held FROM users WHERE user_id = ?" + tx.lock
        row = await tx.fetchone(select, account)
        if row is None:  # the account's first change: one statement more, once per person
            await tx.execute(
                "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO NOTHING",
                account,
                now,
                now,
            )
            row = await tx.fetchone(select, account)
        assert row is not None
        return row

    async def _on_account(self, user: str, now: int, change: Callable[[Tx, str, Row], Awaitable[T]]) -> T:
        """Run `change(tx, account, row)` in one write transaction, on the locked row of `user`'s account.

        `account_of` takes no lock, so on PostgreSQL a `/link` can commit between it and the row lock and
        fold the account into another: a change made then would land on an account nobody spends from any
        more (a hold checked against totals that were moved away, a cap or block no identity reads). A merge
        locks the account it folds away, so once that row is ours a fresh `account_of` is final for this
        transaction. When it still names the locked account, `change` runs; otherwise the transaction rolls
        back (nothing was written) and starts over on the new account, in a new transaction rather than with
        a second lock in this one, so a writer holds one users row and the lock order (the account's row,
        then the global row) stays fixed. SQLite serialises whole transactions: there it never moves, and
        the second look is skipped.
        """

        async def on_locked_row(tx: Tx) -> T:
            account = await self.account_of(tx, user)
            row = await self.lock_user(tx, account, now)
            if not tx.serialised and await self.account_of(tx, user) != account:
                raise _Moved(account)
            return await change(tx, account, row)

        for _ in range(MOVE_RETRIES):
            try:
                return await self.db.transaction(on_locked_row)
            except _Moved:
                continue
        raise DatabaseBusy(f"the account of {user} kept moving while it was being changed")

    def limits(self, row: Row) -> tuple[int | None, Period]:
        """The cap (None: unlimited) and period in force for a users row: its own settings, else the defaults.

        One rule for reserving, `/spend` and the owner's reports, so a report never disagrees with a refusal.
        """
        period: Period = row["period"] or self.default_period
        if row["unlimited"]:
            return None, period
        return (self.default_cap if row["cap_nanos"] is None else int(row["cap_nanos"])), period

    @staticmethod
    async def _spent(reader: Tx | Database, scope: str, key: str) -> int:
        """The running total of `scope` (an account, or GLOBAL) for one period key: one lookup, no scan."""
        row = await reader.fetchone("SELECT spent FROM totals WHERE scope = ? AND period_key = ?", scope, key)
        return int(row["spent"]) if row else 0

    @staticmethod
    async def _held(reader: Tx | Database) -> int:
        """What every open hold keeps back, for the global cap: summed from `holds` (only the answers in
        flight), so no row every reserve and settle must update (the `held` column of `global_state`,
        which no longer changes)."""
        row = await reader.fetchone("SELECT COALESCE(SUM(amount), 0) AS held FROM holds")
        return int(row["held"]) if row else 0

    async def members(self, reader: Tx | Database, account: str) -> list[str]:
        """Every identity spending from `account`: the account's own first, then those linked into it.

        Read inside the write `tx` when the answer guards the write (a block must not reach an owner).
        """
        return [account, *(await self._linked(reader, account)).get(account, ())]

    async def _linked(self, reader: Tx | Database, account: str | None = None) -> dict[str, tuple[str, ...]]:
        """The identities linked into each account (or into one), by name: the one query behind `members`."""
        where, args = ("", ()) if account is None else (" WHERE account = ?", (account,))
        rows = await reader.fetchall(f"SELECT identity, account FROM links{where} ORDER BY identity", *args)
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(str(row["account"]), []).append(str(row["identity"]))
        return {owner: tuple(identities) for owner, identities in found.items()}

    async def _protected_member(self, tx: Tx, account: str, protected: Protected) -> str | None:
        """The first protected identity (an owner) spending from `account`: a block must never reach one."""
        return next((i for i in await self.members(tx, account) if protected(i)), None)

    async def profile(self, user: str) -> UserProfile:
        """The owner's settings for a person's account and their names, for `/model` and owner commands."""
        row = await self.db.fetchone(  # one read, the account resolved in it: every message asks this
            "SELECT model, cap_nanos, unlimited, period, blocked, username, display_name, language"
            " FROM users WHERE user_id = COALESCE((SELECT account FROM links WHERE identity = ?), ?)",
            user,
            user,
        )
        if row is None:
            return UserProfile(user, None, None, False, None, False, None, None)
        return UserProfile(
            user=user,
            model=row["model"],
            cap=None if row["cap_nanos"] is None else int(row["cap_nanos"]),
            unlimited=bool(row["unlimited"]),
            period=row["period"],
            blocked=bool(row["blocked"]),
            username=row["username"],
            display_name=row["display_name"],
            language=row["language"],
        )

    async def _update(self, user: str, assignments: str, *args: object) -> None:
        now = int(self.now().timestamp())

        async def update(tx: Tx, account: str, _: Row) -> None:
            await tx.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE user_id = ?", *args, now, account
            )

        await self._on_account(user, now, update)

    async def set_model(self, user: str, model: str | None) -> None:
        """Remember the account's chosen model (None: the default), so every identity of it answers alike."""
        await self._update(user, "model = ?", model)

    async def set_language(self, user: str, language: str | None) -> None:
        """Remember the language the account chose with /lang (None: the client's again), for every
        identity of it."""
        await self._update(user, "language = ?", language)

    async def remember_names(self, user: str, username: str | None, display_name: str | None) -> None:
        """Keep the person's @handle so owners can name them in commands.

        Names belong to the identity, not the account: after a link each platform keeps its own handle
        (its row stays, folded into the account), so `@tg` and `@dc` both still name the person.
        """
        handle = username.lower().lstrip("@") if username else None
        now = int(self.now().timestamp())
        # one statement, the row created if needed: a person's first message writes their names
        await self.db.execute(
            "INSERT INTO users (user_id, username, display_name, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET username = excluded.username,"
            " display_name = excluded.display_name, updated_at = excluded.updated_at",
            user,
            handle,
            display_name,
            now,
            now,
        )

    async def set_cap(
        self, user: str, cap_nanos: int | None, *, unlimited: bool = False, period: Period | None = None
    ) -> None:
        """Set a person's own cap (None: back to the default) and period (None: the default)."""
        await self._update(
            user, "cap_nanos = ?, unlimited = ?, period = ?", cap_nanos, int(unlimited), period
        )

    async def set_blocked(self, user: str, blocked: bool, *, protected: Protected | None = None) -> None:
        """Block or unblock the whole account `user` spends from.

        A block reaches every identity of the account, so when one of them is `protected` (an owner) the
        block is refused with `OwnerProtected`, checked in the same transaction as the write: a `/link`
        landing meanwhile can't slip an owner in between the check and the block.
        """
        now = int(self.now().timestamp())

        async def block(tx: Tx, account: str, _: Row) -> None:
            if blocked and protected is not None:
                owner = await self._protected_member(tx, account, protected)
                if owner is not None:
                    raise OwnerProtected(user, owner)
            await tx.execute(
                "UPDATE users SET blocked = ?, updated_at = ? WHERE user_id = ?", int(blocked), now, account
            )

        await self._on_account(user, now, block)

    async def reset_settings(self, user: str) -> None:
        """Forget the owner's settings for a person (cap, period, block, model); charges stay."""
        await self._update(
            user, "cap_nanos = ?, unlimited = ?, period = ?, blocked = ?, model = ?", None, 0, None, 0, None
        )
