"""Dashboard sessions: signed, expiring cookie values any bot process can check.

Several bot processes may serve one port (web workers behind a load balancer), so a session can't live
in one process's memory. A session is a value signed with HMAC-SHA256 under a key derived from
`ADMIN_API_TOKEN`: `<id>.<expires>.<signature>`. Every process that knows the token checks it alone;
changing the token ends every session at once. Sign-out records the session's id as a claimed key in the
database's `deliveries` table (kept a day, longer than a session lives), so a copied cookie stops
working in every process, not only in the one that signed it out. The CSRF token of a session is another
HMAC of its id: a form from this dashboard carries it, a cross-site one can't know it.

Wrong tokens slow the sender down, in every process alike: `bot.dashboard.backoff`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.deliveries import KEEP, Deliveries

LIFETIME = timedelta(hours=8)  # a working day; sign-outs are kept for KEEP (a day), longer than this
assert LIFETIME < KEEP
COOKIE = "capbot_dashboard"
SIGNED_OUT = "dashboard-signed-out:"  # the prefix of a sign-out's key in `deliveries`


@dataclass(frozen=True)
class Session:
    """A signed-in owner's session: its id, when it ends, and the CSRF token its forms carry."""

    id: str
    expires: datetime
    csrf: str


class Sessions:
    """Issues and checks session values; sign-outs go through `deliveries` to reach every process."""

    def __init__(self, token: str, deliveries: Deliveries, clock: Callable[[], datetime]) -> None:
        self._token = token.encode()
        self._key = hmac.new(self._token, b"capbot dashboard sessions", hashlib.sha256).digest()
        self._deliveries = deliveries
        self._clock = clock

    def token_matches(self, given: str) -> bool:
        """The admin token, compared in constant time (hashed first, so lengths leak nothing either)."""
        return hmac.compare_digest(
            hashlib.sha256(given.encode()).digest(), hashlib.sha256(self._token).digest()
        )

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def start(self) -> tuple[Session, str]:
        """A new session and its cookie value."""
        sid = secrets.token_hex(16)
        expires = self._clock() + LIFETIME
        body = f"{sid}.{int(expires.timestamp())}"
        return self._session(sid, expires), f"{body}.{self._sign(body)}"

    def _session(self, sid: str, expires: datetime) -> Session:
        return Session(sid, expires, self._sign("csrf:" + sid))

    async def check(self, value: str | None) -> Session | None:
        """The session a cookie value carries, or None when it is forged, expired or signed out."""
        if not value or value.count(".") != 2:
            return None
        sid, stamp, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{sid}.{stamp}")) or not stamp.isdigit():
            return None
        expires = datetime.fromtimestamp(int(stamp), UTC)
        if expires <= self._clock() or await self._deliveries.claimed(SIGNED_OUT + sid):
            return None
        return self._session(sid, expires)

    async def end(self, session: Session) -> None:
        """Sign out: this session id is refused from now on, by every process on this database."""
        await self._deliveries.claim(SIGNED_OUT + session.id)

    @staticmethod
    def csrf_ok(session: Session, given: str) -> bool:
        return hmac.compare_digest(session.csrf.encode(), given.encode())
