"""Reading genai-prices: a model's entry and prices at a moment, refused unless everything it is paid for can
be held and charged; the data in use (bundled, or fetched by the opt-in updater `price_updates`)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from bot.pricing.rates import NO_PRICE, PER_SEARCH, UNCOUNTED_OUTPUT, PriceSource, Rates, Tier, UnpricedModel
from bot.providers.base import TokenUsage

log = logging.getLogger("bot.pricing")  # one logger for the whole package, as before it was split
# Output that genai-prices prices apart from text tokens: no provider reports such counts to capbot, so a
# model paid for it would produce it unheld and uncharged.
_UNCOUNTED_OUTPUT_KEYS = (
    "output_image_mtok",
    "output_audio_mtok",
    "output_video_mtok",
    "output_citation_mtok",
    "output_audio_hours",
)
# Models that search the web on every request by design, as their names say. Their searches are priced per
# search (a count capbot never gets) or not at all in genai-prices (OpenAI's search-preview models, about
# $0.01 a request), so they are usable only where the search is a fixed per-request fee (Perplexity's sonar).
_SEARCHES_BY_ITSELF = re.compile(r"search|deep-research|(^|/)sonar|:online")
# genai-prices' price keys by the names `python -m bot prices` shows; tiers are listed for these.
_TOKEN_RATES = {
    "input_mtok": "input",
    "cache_read_mtok": "cached input",
    "cache_write_mtok": "cache write",
    "output_mtok": "output",
    "output_reasoning_mtok": "reasoning",
}


def _positive(value: object) -> bool:
    if isinstance(value, TieredPrices):
        return value.base > 0 or any(tier.price > 0 for tier in value.tiers)
    return isinstance(value, Decimal) and value > 0


def _base(price: ModelPrice, key: str) -> Decimal | None:
    value = getattr(price, key, None)
    if value is None:
        return None
    return Decimal(value.base if isinstance(value, TieredPrices) else value)


def _refusal(name: str, price: ModelPrice) -> str | None:
    """Why genai-prices' price of model `name` can't be held and charged in full, or None when it can."""

    def paid(key: str) -> bool:
        return _positive(getattr(price, key, None))

    if not (paid("input_mtok") or paid("output_mtok")):  # empty, or per page, image or audio hour only
        return NO_PRICE
    if any(paid(key) for key in _UNCOUNTED_OUTPUT_KEYS):
        return UNCOUNTED_OUTPUT
    if _SEARCHES_BY_ITSELF.search(name.lower()) and (
        paid("web_searches_kcount") or not paid("requests_kcount")
    ):
        return PER_SEARCH
    return None


def genai_entry(model_id: str, price_provider: str | None, at: datetime) -> tuple[ModelInfo, ModelPrice]:
    """genai-prices' entry for the model and its prices at `at`; `UnpricedModel` unless usable."""
    if price_provider is None:
        raise UnpricedModel(model_id)
    name = model_id.split("/", 1)[1]
    try:
        _, model = data_snapshot.get_snapshot().find_provider_model(name, None, price_provider, None)
    except LookupError:
        raise UnpricedModel(model_id) from None
    price = model.get_prices(at)
    if reason := _refusal(name, price):
        raise UnpricedModel(model_id, reason)
    return model, price


def genai_price(
    model_id: str, price_provider: str | None, usage: genai_prices.Usage, at: datetime
) -> genai_prices.types.PriceCalculation:
    """genai-prices' price of `usage` for the model at `at` (check it is usable first: `genai_entry`)."""
    return genai_prices.calc_price(
        usage, model_id.split("/", 1)[1], provider_id=price_provider, genai_request_timestamp=at
    )


def genai_source() -> PriceSource:
    """The genai-prices data in use: bundled with the installed package, or fetched by `price_updates`."""
    snapshot = data_snapshot.get_snapshot()
    if snapshot.from_auto_update:
        fetched = snapshot.timestamp.astimezone(UTC)
        return PriceSource("genai-prices", f"genai-prices data fetched {fetched:%Y-%m-%d %H:%M} UTC")
    return PriceSource("genai-prices", f"genai-prices {genai_prices.__version__} (bundled data)")


def genai_rates(model: ModelInfo, price: ModelPrice) -> Rates:
    """The `Rates` of a usable genai-prices entry (`genai_entry`), its price tiers listed."""
    inp = _base(price, "input_mtok") or Decimal(0)
    out = _base(price, "output_mtok") or Decimal(0)
    starts: dict[int, list[tuple[str, Decimal]]] = {}
    for key, label in _TOKEN_RATES.items():
        value = getattr(price, key, None)
        if isinstance(value, TieredPrices):
            for tier in value.tiers:
                starts.setdefault(tier.start, []).append((label, Decimal(tier.price)))
    return Rates(
        input=inp,
        output=out,
        cached_input=_base(price, "cache_read_mtok") or inp,
        context_window=model.context_window,
        source=genai_source(),
        cache_write=_base(price, "cache_write_mtok") or inp,
        reasoning=_base(price, "output_reasoning_mtok") or out,
        per_request=(_base(price, "requests_kcount") or Decimal(0)) / 1000,
        tiers=tuple(Tier(start, tuple(found)) for start, found in sorted(starts.items())),
        scheduled=not isinstance(model.prices, ModelPrice),
    )


def genai_usage(usage: TokenUsage) -> genai_prices.Usage:
    """Our usage in genai-prices' terms: input includes cached tokens and output includes reasoning
    tokens there too, so reasoning is priced at its own rate where a model has one (else as output)."""
    return genai_prices.Usage(
        input_tokens=usage.input_tokens,
        cache_read_tokens=usage.cache_read_tokens or None,
        cache_write_tokens=usage.cache_write_tokens or None,
        output_tokens=usage.output_tokens,
        output_reasoning_tokens=min(usage.reasoning_tokens, usage.output_tokens) or None,
    )


class PriceFetchFailed(Exception):
    """A fetch of newer price data failed; genai-prices logs this one line and keeps the data in use."""


class _Updates(genai_prices.UpdatePrices):
    """genai-prices' updater, with its failures in one line (an HTTP error's text runs over two)."""

    def fetch(self) -> data_snapshot.DataSnapshot | None:
        try:
            return super().fetch()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            why = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
            raise PriceFetchFailed(
                f"PRICES_UPDATE: could not fetch {self.url} ({why}); the prices in use stay"
            ) from None


@contextlib.contextmanager
def price_updates(enabled: bool, url: str, *, wait: float = 0) -> Iterator[None]:
    """While open and `enabled`, genai-prices fetches newer price data from `url` every hour, in its own
    background thread. Start-up never waits for it (unless `wait` seconds are given, as the prices CLI
    does): the data in use stays until a fetch succeeds, and a failed fetch (one line in the log, from
    genai-prices) keeps it."""
    if not enabled:
        yield
        return
    updater = _Updates(url=url)
    log.info("PRICES_UPDATE: fetching genai-prices data from %s every hour", url)
    updater.start()
    try:
        if wait:
            with contextlib.suppress(Exception):  # logged by genai-prices; the data in use stays
                updater.wait(wait)
        yield
    finally:
        updater.stop()  # type: ignore[no-untyped-call]
