"""Per-person API keys for the gateway (`/v1`): issue, list, revoke, and find whose a key is.

A key is a bearer secret that spends someone's allowance, so it is treated like a password: it is shown
once, when it is made, and only its SHA-256 is stored; a database dump or an export hands out no live key.
A SHA-256 of 40 random characters can't be reversed or guessed, so a lookup by hash needs no slow hash
and no constant-time compare (the secret itself is never compared). A short prefix of the key is stored in
the clear so that people can tell their keys apart in a list.

A key belongs to the identity it was made for. Spending with it goes through `reserve` like a chat
answer, which resolves that identity to its account (`account_of`): linked identities share one
allowance, and the same cap, period, global cap and block apply. Lists and revokes work per account, so
whoever shares the allowance sees (and may stop) every key that spends it.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.ledger.accounts import Accounts
from bot.refusals import Refusal
from bot.storage import DatabaseBusy, Row

KEY_PREFIX = "capbot-"
KEY_RANDOM_BYTES = 30  # secrets.token_urlsafe(30): 40 url-safe characters, 240 random bits
SHOWN_PREFIX = 12  # "capbot-" and five random characters: enough to tell a person's keys apart
MAX_KEY_LENGTH = 200  # anything longer is not one of ours: refused without hashing or a lookup
MAX_LIVE_KEYS = 20  # per identity: a person can't fill the table by sending /key in a loop
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is a hint: written at most this often per key


class TooManyKeys(Refusal):
    """An identity already has `MAX_LIVE_KEYS` live keys; one must be revoked before another is made."""

    def __init__(self, user: str, limit: int) -> None:
        super().__init__(f"{user} has {limit} live keys")
        self.user = user
        self.limit = limit


@dataclass(frozen=True)
class KeyInfo:
    """A key as lists show it: never the secret, only the prefix that tells it apart."""

    id: int
    user: str  # the identity it was made for
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None  # updated at most once a minute
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: the one time its secret exists outside the person's hands (kept out of repr)."""

    id: int
    user: str
    secret: str = field(repr=False)
    prefix: str
    name: str
    created_at: datetime


def key_hash(secret: str) -> str:
    """What is stored of a key: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _moment(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(str(value)), UTC)


def _info(row: Row) -> KeyInfo:
    created = _moment(row["created_at"])
    assert created is not None
    return KeyInfo(
        id=int(row["id"]),
        user=str(row["user_id"]),
        prefix=str(row["prefix"]),
        name=str(row["name"]),
        created_at=created,
        last_used_at=_moment(row["last_used_at"]),
        revoked_at=_moment(row["revoked_at"]),
    )


_COLUMNS = "id, user_id, prefix, name, created_at, last_used_at, revoked_at"


class Keys(Accounts):
    """The part of the ledger that issues the gateway's keys and tells whose a key is (see the module)."""

    async def create_key(self, user: str, name: str = "") -> IssuedKey:
        """A new live key for `user` (an identity); its secret is in the result and nowhere else.

        Raises `TooManyKeys` when the identity already has `MAX_LIVE_KEYS` live keys (nothing is made).
        """
        secret = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
        moment = self.now().replace(microsecond=0)
        async with self.db.write() as tx:
            live = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ? AND revoked_at IS NULL", user
            )
            if live is not None and int(live["n"]) >= MAX_LIVE_KEYS:
                raise TooManyKeys(user, MAX_LIVE_KEYS)
            row = await tx.fetchone(
                "INSERT INTO api_keys (key_hash, prefix, user_id, name, created_at) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                key_hash(secret),
                secret[:SHOWN_PREFIX],
                user,
                name,
                int(moment.timestamp()),
            )
            assert row is not None
        return IssuedKey(int(row["id"]), user, secret, secret[:SHOWN_PREFIX], name, moment)

    async def keys(self, user: str | None = None) -> list[KeyInfo]:
        """The live keys spending `user`'s allowance (every identity of the account), or everyone's
        (`user` None); oldest first. Revoked keys stay in the table (their hashes are never reissued)
        but are not listed."""
        if user is None:
            rows = await self.db.fetchall(
                f"SELECT {_COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY id"
            )
            return [_info(row) for row in rows]
        members = await self.members(self.db, await self.account_of(self.db, user))
        marks = ", ".join("?" for _ in members)
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM api_keys WHERE user_id IN ({marks}) AND revoked_at IS NULL ORDER BY id",
            *members,
        )
        return [_info(row) for row in rows]

    async def revoke_key(self, user: str, key: str) -> KeyInfo | None:
        """Revoke one live key of `user`'s account, named by its id or its shown prefix; returns it as it
        now is, or None when no single live key of that account matches (then nothing changes).

        Revoking takes effect at once: `key_owner` no longer finds it, so the next gateway request with it
        is refused. Answers already under way finish and are settled as usual.
        """
        key = key.strip()
        value: int | str
        if key.isdigit() and len(key) <= 18:  # an id (a larger number is no BIGINT, so no key's)
            where, value = "id = ?", int(key)
        elif key.startswith(KEY_PREFIX):
            where, value = "prefix = ?", key[:SHOWN_PREFIX]
        else:
            return None
        async with self.db.write() as tx:
            members = await self.members(tx, await self.account_of(tx, user))
            marks = ", ".join("?" for _ in members)
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM api_keys WHERE {where} AND user_id IN ({marks})"
                " AND revoked_at IS NULL" + tx.lock,
                value,
                *members,
            )
            if len(rows) != 1:  # none, or (by a prefix) several: revoking a guess would be worse
                return None
            now = int(self.now().timestamp())
            await tx.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", now, rows[0]["id"])
        return _info({**rows[0], "revoked_at": now})

    async def key_owner(self, secret: str) -> str | None:
        """The identity a live key belongs to; None for a missing, malformed, wrong or revoked key.

        What the gateway authenticates with: the caller then spends as that identity (`reserve` resolves
        its account). Marks the key used, at most once a `LAST_USED_EVERY` per key, and never at the cost
        of the request: a busy database just skips the mark.
        """
        secret = secret.strip()
        if not secret.startswith(KEY_PREFIX) or len(secret) > MAX_KEY_LENGTH:
            return None
        row = await self.db.fetchone(
            "SELECT id, user_id, last_used_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            key_hash(secret),
        )
        if row is None:
            return None
        now = int(self.now().timestamp())
        stale = now - int(LAST_USED_EVERY.total_seconds())
        if row["last_used_at"] is None or int(row["last_used_at"]) <= stale:
            with contextlib.suppress(DatabaseBusy):  # a hint only: the key is still good
                await self.db.execute(
                    "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
                    " AND (last_used_at IS NULL OR last_used_at <= ?)",
                    now,
                    row["id"],
                    stale,
                )
        return str(row["user_id"])
