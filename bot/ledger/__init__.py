"""The spending ledger: reserve the worst case, settle the actual cost, never exceed a cap.

`Ledger` is the one front door (money, accounts, links, reports, the gateway's keys); everything other
packages use of the ledger is imported from here, never from its modules.
"""

from bot.ledger.accounts import GLOBAL, Protected, utc_now
from bot.ledger.keys import (
    KEY_PREFIX,
    MAX_LIVE_KEYS,
    SHOWN_PREFIX,
    IssuedKey,
    KeyInfo,
    TooManyKeys,
    key_hash,
)
from bot.ledger.ledger import HEARTBEAT, STALE_AFTER, Ledger
from bot.ledger.links import CODE_TTL, Linked, LinkReason, LinkRefused, Unlinked, looks_like_code
from bot.ledger.periods import PERIODS, Period, all_keys, period_key, period_start, reset_time
from bot.ledger.records import (
    Blocked,
    CapReached,
    ChargeDetail,
    Hold,
    OwnerProtected,
    Quote,
    SpendSummary,
    UserProfile,
)
from bot.ledger.reports import (
    AccountReport,
    ChargeRecord,
    GlobalStanding,
    ModelTokens,
    ModelUsage,
    OpenHold,
)

__all__ = [
    "CODE_TTL",
    "GLOBAL",
    "HEARTBEAT",
    "KEY_PREFIX",
    "MAX_LIVE_KEYS",
    "PERIODS",
    "SHOWN_PREFIX",
    "STALE_AFTER",
    "AccountReport",
    "Blocked",
    "CapReached",
    "ChargeDetail",
    "ChargeRecord",
    "GlobalStanding",
    "Hold",
    "IssuedKey",
    "KeyInfo",
    "Ledger",
    "LinkReason",
    "LinkRefused",
    "Linked",
    "ModelTokens",
    "ModelUsage",
    "OpenHold",
    "OwnerProtected",
    "Period",
    "Protected",
    "Quote",
    "SpendSummary",
    "TooManyKeys",
    "Unlinked",
    "UserProfile",
    "all_keys",
    "key_hash",
    "looks_like_code",
    "period_key",
    "period_start",
    "reset_time",
    "utc_now",
]
