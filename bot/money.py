"""Exact money: integer nano-dollars in storage, Decimal in arithmetic, never float."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from bot.i18n import _, usd
from bot.refusals import Refusal

NANOS_PER_USD = 1_000_000_000
_NANOS = Decimal(NANOS_PER_USD)


class BadAmount(Refusal, ValueError):
    """An amount of dollars a person typed that cannot be a cap."""


def usd_to_nanos(usd: Decimal) -> int:
    """A price in dollars as nano-dollars, rounded up: we never under-charge by rounding."""
    return int((usd * _NANOS).to_integral_value(rounding=ROUND_CEILING))


def nanos_to_usd(nanos: int) -> Decimal:
    return Decimal(nanos) / _NANOS


def floor_div(amount: Decimal, price: Decimal) -> int:
    """How many whole units of `price` fit in `amount`."""
    return int((amount / price).to_integral_value(rounding=ROUND_FLOOR))


MAX_CAP_USD = Decimal(1_000_000)


def parse_usd(text: str) -> int:
    """Parse a cap typed by a person ("5", "$0.25", "1e-3" is refused) into nano-dollars.

    Refuses negatives, NaN, infinities, more than nine decimals and anything above a million dollars,
    with a message fit to show them.
    """
    raw = text.strip().removeprefix("$").strip()
    if not raw or any(c not in "0123456789." for c in raw) or raw.count(".") > 1 or raw == ".":
        raise BadAmount(_("'{text}' is not an amount of dollars (write it like 5 or 0.25)").format(text=text))
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the character check above catches these
        raise BadAmount(
            _("'{text}' is not an amount of dollars (write it like 5 or 0.25)").format(text=text)
        ) from exc
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        raise BadAmount(
            _("'{text}' has more than nine decimals (the ledger counts nano-dollars)").format(text=text)
        )
    if value > MAX_CAP_USD:  # quoted as typed (a 40-digit number can't even be rounded to cents), cut short
        shown = raw if len(raw) <= 24 else raw[:20] + "…"
        raise BadAmount(
            _("'{amount}' is more than the {limit} limit").format(
                amount=shown, limit=usd(MAX_CAP_USD, least_places=0)
            )
        )
    return int(value * _NANOS)


def _places(nanos: int) -> int:
    """Decimals that show an amount: cents from ten cents up (and for nothing), else two significant
    digits (as `format_usd` shows it)."""
    usd = nanos_to_usd(abs(nanos))
    if usd == 0 or usd >= Decimal("0.1"):
        return 2
    return max(-usd.adjusted() + 1, 2)


def _usd_at(nanos: int, places: int, rounding: str) -> Decimal:
    shown = nanos_to_usd(abs(nanos)).quantize(Decimal(1).scaleb(-places), rounding=rounding)
    return -shown if nanos < 0 else shown


def _shown(nanos: int, up: bool = False) -> Decimal:
    """The amount `format_usd` shows: cents from ten cents up, else two significant digits."""
    usd_ = nanos_to_usd(abs(nanos))
    if usd_ == 0:
        return Decimal("0.00")
    if usd_ >= Decimal("0.1"):
        shown = usd_.quantize(Decimal("0.01"), rounding=ROUND_CEILING if up else ROUND_FLOOR)
    else:  # below ten cents: two significant digits, so small charges stay visible
        digits = -usd_.adjusted() + 1
        rounding = ROUND_CEILING if up else ROUND_HALF_UP
        shown = usd_.quantize(Decimal(1).scaleb(-digits), rounding=rounding).normalize()
        if shown.as_tuple().exponent > -2:  # type: ignore[operator]  # "$0.10", not "$0.1"
            shown = shown.quantize(Decimal("0.01"))
    return -shown if nanos < 0 else shown


def format_usd(nanos: int, *, up: bool = False) -> str:
    """Dollars for people, in their language's format: cents from ten cents up, else two significant
    digits ($0.013, $0.00045; 0,00045 $US in French). `up`: rounded up, as a person's own spend is shown
    beside "Spent" (which is rounded up so that spent and left never add up to more than the cap), so
    that one amount never reads as two."""
    return usd(_shown(nanos, up))


def spent_and_left(spent: int, left: int) -> tuple[str, str]:
    """What was spent rounded up and what is left rounded down, both to the finer precision either needs:
    shown side by side they never add up to more than the cap, and always to it within one shown unit."""
    places = max(_places(spent), _places(left))
    shown = _usd_at(spent, places, ROUND_CEILING), _usd_at(max(left, 0), places, ROUND_FLOOR)
    while places > 2 and all(a == a.quantize(Decimal(1).scaleb(1 - places)) for a in shown):
        places -= 1  # $0.000006, not $0.0000060
        shown = tuple(a.quantize(Decimal(1).scaleb(-places)) for a in shown)  # type: ignore[assignment]
    return usd(shown[0], least_places=places), usd(shown[1], least_places=places)
