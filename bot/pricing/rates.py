"""What a price is: a usable model's `Rates` at one moment and where they come from, or why the model is
refused (`UnpricedModel`), and how menus show them (`describe`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.i18n import N_, _, usd

MTOK = Decimal(1_000_000)

NO_PRICE = N_("it has no known price, so it can't be charged fairly")
UNCOUNTED_OUTPUT = N_("it is paid for output capbot can't count (images, audio, video or citations)")
PER_SEARCH = N_("it searches the web on every request and is paid per search, which capbot can't count")


class UnpricedModel(LookupError):
    """This model may not be used: no price is known, or not for everything it is paid for (`reason`)."""

    def __init__(self, model_id: str, reason: str = NO_PRICE) -> None:
        super().__init__(f"{model_id}: {reason}")
        self.model_id = model_id
        self.reason = reason


@dataclass(frozen=True)
class PriceSource:
    """Where a model's prices come from, for the owner to audit (`python -m bot prices`)."""

    kind: Literal["genai-prices", "file", "openrouter"]  # "openrouter": OpenRouter's own model list
    detail: str  # for people: the data's version or fetch time, or the price file's path

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Tier:
    """Prices that replace the base ones, for every token, once a request's input exceeds `above` tokens."""

    above: int
    prices: tuple[tuple[str, Decimal], ...]  # (what, USD per million tokens), e.g. ("input", Decimal("2.5"))


@dataclass(frozen=True)
class Rates:
    """A usable model's prices at one moment: USD per million tokens (per request: USD)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    context_window: int | None
    source: PriceSource
    cache_write: Decimal  # the input rate where the model has no cache-write price
    reasoning: Decimal  # the output rate where the model has no reasoning price
    per_request: Decimal = Decimal(0)  # a fee per request, whatever its tokens
    tiers: tuple[Tier, ...] = ()
    scheduled: bool = False  # the prices change by date or time of day: these are the ones at that moment
    max_output: int | None = None  # the model's own output limit, where known (OpenRouter lists it)

    @property
    def tiered(self) -> bool:
        return bool(self.tiers)


def per_mtok(per_token: Decimal) -> Decimal:
    """A per-token price per million tokens, written plainly ("0.15", not "1.5E-1" nor "0.15000000")."""
    value = (per_token * MTOK).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def describe(rates: Rates) -> str:
    """ "$0.15/$0.60 per 1M in/out" for menus (plus any fee per request)."""
    plus = "+" if rates.tiered else ""
    if rates.input == 0 and rates.output == 0 and rates.per_request == 0:
        return _("free")
    text = _("{input}/{output} per 1M in/out").format(
        input=usd(_figure(rates.input), least_places=0),
        output=usd(_figure(rates.output), least_places=0) + plus,
    )
    if rates.per_request:
        text += _(" + {fee} per request").format(fee=usd(_figure(rates.per_request), least_places=0))
    return text


def _figure(price: Decimal) -> Decimal:
    """A price as its significant digits only (`0.15`, `2.5`, `3`): the `:g` of an exact Decimal."""
    return Decimal(f"{price:g}")
