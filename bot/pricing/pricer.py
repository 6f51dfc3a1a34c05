"""What a model costs: genai-prices' data plus price files (bot/prices.toml, then the owner's PRICES_FILE),
and OpenRouter's own list for its models once fetched (`bot.providers.openrouter_models`).

Every price is taken at one moment, the request's start, so where prices change by time of day (DeepSeek's
off-peak window) or by date, the hold and the charge of one request use the same prices.

A model is usable only when everything it is paid for can be held and charged; otherwise it is refused
(`UnpricedModel`, with the reason), because charging an unknown or half-known price as free would let anyone
drain the owner's keys. Usable means: a row of a price file (the owner's may say 0; the bundled one says 0
only for providers free by design, marked `free = true`), or a positive token price in genai-prices and no
charge the bot can't count (image, audio or video output; searches a model makes on every request, unless
they are a fixed per-request fee). genai-prices also prices tools (web search, file search, code execution)
for ordinary models; those cost nothing here, because capbot never offers a model a tool.

genai-prices' bundled data is used unless the owner opts in to its updater (`price_updates`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from bot.ledger import Quote
from bot.money import NANOS_PER_USD, usd_to_nanos
from bot.providers.base import TokenUsage
from bot.providers.openrouter_models import ListedModel, OpenRouterList

log = logging.getLogger(__name__)
MTOK = Decimal(1_000_000)
# More input tokens than any price tier starts at: a request this size is priced at the dearest tier.
# A power of ten, so scaling its price back to a real input size is exact in Decimal.
TOP_TIER_TOKENS = 10**12
BUNDLED_FILE = "bot/prices.toml"

NO_PRICE = "it has no known price, so it can't be charged fairly"
UNCOUNTED_OUTPUT = "it is paid for output capbot can't count (images, audio, video or citations)"
PER_SEARCH = "it searches the web on every request and is paid per search, which capbot can't count"
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


class UnpricedModel(LookupError):
    """This model may not be used: no price is known, or not for everything it is paid for (`reason`)."""

    def __init__(self, model_id: str, reason: str = NO_PRICE) -> None:
        super().__init__(f"{model_id}: {reason}")
        self.model_id = model_id
        self.reason = reason


class PriceFileError(ValueError):
    """The owner's price file cannot be read; start-up stops with this line."""


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


@dataclass(frozen=True)
class _Override:
    """One row of a price file: USD per million tokens, flat (the files have no tiers)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    context_window: int | None
    per_request: Decimal = Decimal(0)  # USD per request, e.g. the search fee of a model that always searches
    source: str = BUNDLED_FILE
    deliberate: bool = False  # the owner's file, or a row marked `free = true`: a zero price is meant

    @property
    def usable(self) -> bool:
        return self.deliberate or self.input > 0 or self.output > 0


def _decimal(entry: Mapping[str, Any], key: str, where: str, default: Decimal | None = None) -> Decimal:
    raw = entry.get(key)
    if raw is None:
        if default is None:
            raise PriceFileError(f"{where}: '{key}' is missing")
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PriceFileError(f"{where}: '{key}' is not a number: {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise PriceFileError(f"{where}: '{key}' must be a price of zero or more, not {raw!r}")
    return value


def load_overrides(*paths: Path | None) -> dict[str, _Override]:
    """Read price files in order (later ones win). Missing optional files are an error when named."""
    found: dict[str, _Override] = {}
    sources: list[tuple[str, str]] = [
        (BUNDLED_FILE, resources.files("bot").joinpath("prices.toml").read_text())
    ]
    for path in paths:
        if path is None:
            continue
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise PriceFileError(f"PRICES_FILE: cannot read {path}: {exc.strerror}") from None
    for name, text in sources:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PriceFileError(f"{name}: not valid TOML: {exc}") from None
        for model_id, entry in data.get("models", {}).items():
            where = f"{name}: {model_id}"
            if "/" not in model_id or not isinstance(entry, dict):
                raise PriceFileError(f'{where}: expected [models."provider/model"] with input and output')
            window = entry.get("context_window")
            if window is not None and (not isinstance(window, int) or window <= 0):
                raise PriceFileError(f"{where}: context_window must be a positive whole number")
            free = entry.get("free", False)
            if not isinstance(free, bool):
                raise PriceFileError(f"{where}: free must be true or false")
            inp = _decimal(entry, "input", where)
            found[model_id.lower()] = _Override(
                input=inp,
                output=_decimal(entry, "output", where),
                cached_input=_decimal(entry, "cached_input", where, inp),
                context_window=window,
                per_request=_decimal(entry, "per_request", where, Decimal(0)),
                source=_file_source(name, free),
                deliberate=name != BUNDLED_FILE or free,
            )
    return found


def _file_source(name: str, free: bool) -> str:
    if name != BUNDLED_FILE:
        return f"{name} (PRICES_FILE)"
    return f"{name} (bundled with capbot{', free by design' if free else ''})"


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


def genai_source() -> PriceSource:
    """The genai-prices data in use: bundled with the installed package, or fetched by `price_updates`."""
    snapshot = data_snapshot.get_snapshot()
    if snapshot.from_auto_update:
        fetched = snapshot.timestamp.astimezone(UTC)
        return PriceSource("genai-prices", f"genai-prices data fetched {fetched:%Y-%m-%d %H:%M} UTC")
    return PriceSource("genai-prices", f"genai-prices {genai_prices.__version__} (bundled data)")


def _genai_rates(model: ModelInfo, price: ModelPrice) -> Rates:
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


class Pricer:
    """Prices models by id ("provider/model") given the genai-prices provider id from the catalog.

    `quote`, `cost` and `rates` take the moment to price at: the request's start for a quote and its cost,
    so both see the same prices. `rates` defaults to now (the clock), for menus.
    """

    def __init__(
        self, overrides: Mapping[str, _Override], clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._overrides = dict(overrides)
        self._clock = clock
        # OpenRouter's list, set by `bot.core.open_core` when OpenRouter is configured: once loaded it
        # prices OpenRouter's models instead of genai-prices (an owner's override still wins)
        self.openrouter: OpenRouterList | None = None

    @classmethod
    def from_file(cls, path: Path | None, clock: Callable[[], datetime] | None = None) -> Pricer:
        """The bundled overrides plus the owner's PRICES_FILE; a bad file stops start-up (PriceFileError)."""
        overrides = load_overrides(path)
        return cls(overrides, clock) if clock else cls(overrides)

    def _override(self, model_id: str) -> _Override | None:
        """The price file's row for the model (or its provider's "provider/*"); refused if it prices
        nothing without saying it means to."""
        key = model_id.lower()
        provider = key.split("/", 1)[0]
        override = self._overrides.get(key) or self._overrides.get(f"{provider}/*")
        if override is not None and not override.usable:
            raise UnpricedModel(model_id)
        return override

    def _listed(self, model_id: str, price_provider: str | None) -> ListedModel | None:
        """OpenRouter's own prices for one of its models, once its list is loaded; None for other models
        (or before it loads). A model the loaded list lacks is not served by OpenRouter: `UnpricedModel`."""
        if self.openrouter is None or not self.openrouter.prices(price_provider):
            return None
        listed = self.openrouter.get(model_id.split("/", 1)[1])
        if listed is None:
            raise UnpricedModel(model_id)
        return listed

    def _genai(self, model_id: str, price_provider: str | None, at: datetime) -> tuple[ModelInfo, ModelPrice]:
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

    def _calc(
        self, model_id: str, price_provider: str | None, usage: genai_prices.Usage, at: datetime
    ) -> genai_prices.types.PriceCalculation:
        return genai_prices.calc_price(
            usage, model_id.split("/", 1)[1], provider_id=price_provider, genai_request_timestamp=at
        )

    def rates(self, model_id: str, price_provider: str | None, at: datetime | None = None) -> Rates:
        """The prices at `at` (default now); raises `UnpricedModel` for a model that may not be used."""
        if override := self._override(model_id):
            return Rates(
                input=override.input,
                output=override.output,
                cached_input=override.cached_input,
                context_window=override.context_window,
                source=PriceSource("file", override.source),
                cache_write=override.input,
                reasoning=override.output,
                per_request=override.per_request,
            )
        if listed := self._listed(model_id, price_provider):  # OpenRouter's list: per token → per 1M
            cached = listed.input_cache_read if listed.input_cache_read is not None else listed.prompt
            written = listed.input_cache_write if listed.input_cache_write is not None else listed.prompt
            reasoning = (
                listed.internal_reasoning if listed.internal_reasoning is not None else listed.completion
            )
            return Rates(
                input=_per_mtok(listed.prompt),
                output=_per_mtok(listed.completion),
                cached_input=_per_mtok(cached),
                context_window=listed.context_length,
                source=PriceSource("openrouter", "OpenRouter's model list"),
                cache_write=_per_mtok(written),
                reasoning=_per_mtok(reasoning),
                per_request=listed.request,
                max_output=listed.max_completion_tokens,
            )
        return _genai_rates(*self._genai(model_id, price_provider, at or self._clock()))

    def quote(
        self,
        model_id: str,
        price_provider: str | None,
        *,
        at: datetime,
        input_tokens: int,
        max_output_tokens: int,
        min_output_tokens: int,
    ) -> Quote:
        """The worst case of one request starting at `at`, which its cost (priced at `at`) can never exceed.

        Every input token at the dearest input rate (a cache write costs more than a plain read), each
        output token at the dearer of the output and the reasoning rate, any per-request fee, and all of it
        at the dearest price tier (tiers switch on the input size; the top one is priced by asking for
        `TOP_TIER_TOKENS`, the input bound's own tier too in case a tier were cheaper). Amounts round up.
        """
        if override := self._override(model_id):
            input_usd = Decimal(input_tokens) * max(override.input, override.cached_input) / MTOK
            per_token_usd = override.output / MTOK
            fixed_usd = override.per_request
        elif listed := self._listed(model_id, price_provider):  # OpenRouter's list: prices per token
            input_usd = input_tokens * listed.dearest_input
            per_token_usd = listed.dearest_output
            fixed_usd = listed.request
        else:
            self._genai(model_id, price_provider, at)  # refuses what can't be charged in full

            def calc(tokens: int, **usage: int) -> genai_prices.types.PriceCalculation:
                return self._calc(
                    model_id, price_provider, genai_prices.Usage(input_tokens=tokens, **usage), at
                )

            input_usd = per_token_usd = fixed_usd = Decimal(0)
            mtok = int(MTOK)
            for tokens in (input_tokens, TOP_TIER_TOKENS):
                plain = calc(tokens, output_tokens=mtok)
                written = calc(tokens, cache_write_tokens=tokens)
                thinking = calc(tokens, output_tokens=mtok, output_reasoning_tokens=mtok)
                dearest_input = max(Decimal(plain.input_price), Decimal(written.input_price))
                if tokens != input_tokens:  # scale the top tier's price down to this input (exact)
                    dearest_input = dearest_input * input_tokens / tokens
                input_usd = max(input_usd, dearest_input)
                per_token_usd = max(
                    per_token_usd, Decimal(plain.output_price) / MTOK, Decimal(thinking.output_price) / MTOK
                )
                # what is neither input nor output: a per-request fee (genai-prices counts one request)
                fee = Decimal(plain.total_price) - Decimal(plain.input_price) - Decimal(plain.output_price)
                fixed_usd = max(fixed_usd, fee)
        return Quote(
            input_nanos=usd_to_nanos(input_usd + fixed_usd),
            output_nanos_per_token=per_token_usd * NANOS_PER_USD,
            max_output_tokens=max_output_tokens,
            min_output_tokens=min_output_tokens,
        )

    def cost(self, model_id: str, price_provider: str | None, usage: TokenUsage, *, at: datetime) -> int:
        """The exact cost in nano-dollars, rounded up, of a request that started at `at`."""
        if usage.reported_cost_usd is not None:
            return usd_to_nanos(usage.reported_cost_usd)
        if override := self._override(model_id):
            uncached = usage.input_tokens - usage.cache_read_tokens
            usd = (
                uncached * override.input
                + usage.cache_read_tokens * override.cached_input
                + usage.output_tokens * override.output
            ) / MTOK + override.per_request
            return usd_to_nanos(usd)
        if listed := self._listed(model_id, price_provider):  # no reported cost: the list's prices
            return usd_to_nanos(listed.cost_usd(usage))
        self._genai(model_id, price_provider, at)
        priced = self._calc(model_id, price_provider, genai_usage(usage), at)
        return usd_to_nanos(Decimal(priced.total_price))


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


def _per_mtok(per_token: Decimal) -> Decimal:
    """A per-token price per million tokens, written plainly ("0.15", not "1.5E-1" nor "0.15000000")."""
    value = (per_token * MTOK).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def describe(rates: Rates) -> str:
    """ "$0.15/$0.60 per 1M in/out" for menus (plus any fee per request)."""
    plus = "+" if rates.tiered else ""
    if rates.input == 0 and rates.output == 0 and rates.per_request == 0:
        return "free"
    text = f"${rates.input:g}/${rates.output:g}{plus} per 1M in/out"
    if rates.per_request:
        text += f" + ${rates.per_request:g} per request"
    return text
