"""The spending ledger: reserve the worst case, settle the actual cost, never exceed a cap."""

from bot.ledger.ledger import (
    Blocked,
    CapReached,
    ChargeDetail,
    Hold,
    Ledger,
    Quote,
    SpendSummary,
    UserProfile,
)
from bot.ledger.periods import Period

__all__ = [
    "Blocked",
    "CapReached",
    "ChargeDetail",
    "Hold",
    "Ledger",
    "Period",
    "Quote",
    "SpendSummary",
    "UserProfile",
]
