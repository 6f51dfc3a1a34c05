"""Who spends from which account, and the owner's settings per person (cap, period, block, model).

The base of `Ledger`: identity → account resolution, the locked user row every money change starts from,
the cap and period in force, and the profile reads and updates. Money movements live in `ledger.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bot.ledger.periods import Period
from bot.ledger.records import OwnerProtected, UserProfile
from bot.storage import Database, Row, Tx


def utc_now() -> datetime:
    return datetime.now(UTC)


class Accounts:
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

    async def _account(self, reader: Tx | Database, user: str) -> str:
        """The account an identity spends from: its own until `/link` folds it into another."""
        row = await reader.fetchone("SELECT account FROM links WHERE identity = ?", user)
        return str(row["account"]) if row else user

    async def _user_row(self, tx: Tx, user: str, now: int) -> Row:
        """Create the row if needed and lock it: every money change for a person goes through here first."""
        await tx.execute(
            "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO NOTHING",
            user,
            now,
            now,
        )
        row = await tx.fetchone(
            "SELECT cap_nanos, unlimited, period, blocked, held FROM users WHERE user_id = ?" + tx.lock, user
        )
        assert row is not None
        return row

    def _limits(self, row: Row) -> tuple[int | None, Period]:
        period: Period = row["period"] or self.default_period
        if row["unlimited"]:
            return None, period
        return (self.default_cap if row["cap_nanos"] is None else int(row["cap_nanos"])), period

    async def profile(self, user: str) -> UserProfile:
        account = await self._account(self.db, user)
        row = await self.db.fetchone(
            "SELECT model, cap_nanos, unlimited, period, blocked, username, display_name"
            " FROM users WHERE user_id = ?",
            account,
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
        )

    async def _update(self, user: str, assignments: str, *args: object) -> None:
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            account = await self._account(tx, user)
            await self._user_row(tx, account, now)
            await tx.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE user_id = ?", *args, now, account
            )

    async def set_model(self, user: str, model: str | None) -> None:
        await self._update(user, "model = ?", model)

    async def remember_names(self, user: str, username: str | None, display_name: str | None) -> None:
        """Keep the person's @handle so owners can name them in commands.

        Names belong to the identity, not the account: after a link each platform keeps its own handle
        (its row stays, folded into the account), so `@tg` and `@dc` both still name the person.
        """
        handle = username.lower().lstrip("@") if username else None
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            await self._user_row(tx, user, now)
            await tx.execute(
                "UPDATE users SET username = ?, display_name = ?, updated_at = ? WHERE user_id = ?",
                handle,
                display_name,
                now,
                user,
            )

    async def set_cap(
        self, user: str, cap_nanos: int | None, *, unlimited: bool = False, period: Period | None = None
    ) -> None:
        """Set a person's own cap (None: back to the default) and period (None: the default)."""
        await self._update(
            user, "cap_nanos = ?, unlimited = ?, period = ?", cap_nanos, int(unlimited), period
        )

    async def members(self, reader: Tx | Database, account: str) -> list[str]:
        """Every identity spending from `account`: the account's own first, then those linked into it."""
        query = "SELECT identity FROM links WHERE account = ? ORDER BY identity"
        rows = await reader.fetchall(query, account)
        return [account, *(str(row["identity"]) for row in rows)]

    async def set_blocked(
        self, user: str, blocked: bool, *, protected: Callable[[str], bool] | None = None
    ) -> None:
        """Block or unblock the whole account `user` spends from.

        A block reaches every identity of the account, so when one of them is `protected` (an owner) the
        block is refused with `OwnerProtected`, checked in the same transaction as the write: a `/link`
        landing meanwhile can't slip an owner in between the check and the block.
        """
        now = int(self.now().timestamp())
        async with self.db.write() as tx:
            account = await self._account(tx, user)
            await self._user_row(tx, account, now)
            if blocked and protected is not None:
                owner = next((i for i in await self.members(tx, account) if protected(i)), None)
                if owner is not None:
                    raise OwnerProtected(user, owner)
            await tx.execute(
                "UPDATE users SET blocked = ?, updated_at = ? WHERE user_id = ?", int(blocked), now, account
            )

    async def reset_settings(self, user: str) -> None:
        """Forget the owner's settings for a person (cap, period, block, model); charges stay."""
        await self._update(
            user, "cap_nanos = ?, unlimited = ?, period = ?, blocked = ?, model = ?", None, 0, None, 0, None
        )
