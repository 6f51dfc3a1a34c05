"""What a model costs: genai-prices' bundled data, plus the owner's overrides for models it lacks, and
OpenRouter's own list for OpenRouter's models once it has been fetched (`bot.providers.openrouter_models`).

Only bundled data is used (the package's network updater is never started). A model with no known price
is refused (`UnpricedModel`): charging an unknown model as free would let anyone drain the owner's keys.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices import data_snapshot

from bot.ledger import Quote
from bot.money import NANOS_PER_USD, usd_to_nanos
from bot.providers.base import TokenUsage
from bot.providers.openrouter_models import ListedModel, OpenRouterList

log = logging.getLogger(__name__)
MTOK = Decimal(1_000_000)
# More input tokens than any price tier starts at: a request this size is priced at the dearest tier.
# A power of ten, so scaling its price back to a real input size is exact in Decimal.
TOP_TIER_TOKENS = 10**12


class UnpricedModel(LookupError):
    """No price is known for this model, so it may not be used."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"no price is known for {model_id}")
        self.model_id = model_id


class PriceFileError(ValueError):
    """The owner's price file cannot be read; start-up stops with this line."""


@dataclass(frozen=True)
class Rates:
    """USD per million tokens, for showing to people and for the worst-case quote."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    context_window: int | None
    source: str  # "genai-prices", "overrides" or "openrouter"
    tiered: bool = False
    max_output: int | None = None  # the model's own output limit, where known (OpenRouter lists it)


@dataclass(frozen=True)
class _Override:
    """One row of a price file: USD per million tokens, flat (the files have no tiers)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    context_window: int | None


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
        ("bot/prices.toml", resources.files("bot").joinpath("prices.toml").read_text())
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
            inp = _decimal(entry, "input", where)
            found[model_id.lower()] = _Override(
                input=inp,
                output=_decimal(entry, "output", where),
                cached_input=_decimal(entry, "cached_input", where, inp),
                context_window=window,
            )
    return found


class Pricer:
    """Prices models by id ("provider/model") given the genai-prices provider id from the catalog."""

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
        model_id = model_id.lower()
        provider = model_id.split("/", 1)[0]
        return self._overrides.get(model_id) or self._overrides.get(f"{provider}/*")

    def _listed(self, model_id: str, price_provider: str | None) -> ListedModel | None:
        """OpenRouter's own prices for one of its models, once its list is loaded; None for other models
        (or before it loads). A model the loaded list lacks is not served by OpenRouter: `UnpricedModel`."""
        if self.openrouter is None or not self.openrouter.prices(price_provider):
            return None
        listed = self.openrouter.get(model_id.split("/", 1)[1])
        if listed is None:
            raise UnpricedModel(model_id)
        return listed

    def _model_info(self, model_id: str, price_provider: str | None) -> Any:
        if price_provider is None:
            raise UnpricedModel(model_id)
        name = model_id.split("/", 1)[1]
        try:
            _, model = data_snapshot.get_snapshot().find_provider_model(name, None, price_provider, None)
        except LookupError:
            raise UnpricedModel(model_id) from None
        return model

    def _calc(self, model_id: str, price_provider: str | None, usage: genai_prices.Usage) -> Any:
        if price_provider is None:
            raise UnpricedModel(model_id)
        try:
            return genai_prices.calc_price(
                usage,
                model_id.split("/", 1)[1],
                provider_id=price_provider,
                genai_request_timestamp=self._clock(),
            )
        except LookupError:
            raise UnpricedModel(model_id) from None

    def rates(self, model_id: str, price_provider: str | None) -> Rates:
        """Per-million prices; raises `UnpricedModel` when neither source knows the model."""
        if override := self._override(model_id):
            return Rates(
                override.input, override.output, override.cached_input, override.context_window, "overrides"
            )
        if listed := self._listed(model_id, price_provider):  # OpenRouter's list: per token → per 1M
            cached = listed.input_cache_read if listed.input_cache_read is not None else listed.prompt
            return Rates(
                _per_mtok(listed.prompt),
                _per_mtok(listed.completion),
                _per_mtok(cached),
                listed.context_length,
                "openrouter",
                max_output=listed.max_completion_tokens,
            )
        model = self._model_info(model_id, price_provider)
        price = model.get_prices(self._clock())
        tiered = any(hasattr(getattr(price, k, None), "tiers") for k in ("input_mtok", "output_mtok"))

        def base(key: str) -> Decimal:
            value = getattr(price, key, None)
            if value is None:
                return Decimal(0)
            return Decimal(getattr(value, "base", value))

        inp = base("input_mtok")
        cached = base("cache_read_mtok") if getattr(price, "cache_read_mtok", None) is not None else inp
        return Rates(inp, base("output_mtok"), cached, model.context_window, "genai-prices", tiered)

    def quote(
        self,
        model_id: str,
        price_provider: str | None,
        *,
        input_tokens: int,
        max_output_tokens: int,
        min_output_tokens: int,
    ) -> Quote:
        """The worst case of one request, which the settled cost can never exceed.

        Every input token at the dearest input rate (a cache write costs more than a plain read), each
        output token at the dearer of the output and the reasoning rate, any per-request fee, and all of it
        at the dearest price tier (tiers switch on the input size; the top one is priced by asking for
        `TOP_TIER_TOKENS`, the input bound's own tier too in case a tier were cheaper). Amounts round up.
        """
        if override := self._override(model_id):
            input_usd = Decimal(input_tokens) * max(override.input, override.cached_input) / MTOK
            per_token_usd = override.output / MTOK
            fixed_usd = Decimal(0)
        elif listed := self._listed(model_id, price_provider):  # OpenRouter's list: prices per token
            input_usd = input_tokens * listed.dearest_input
            per_token_usd = listed.dearest_output
            fixed_usd = listed.request
        else:

            def calc(tokens: int, **usage: int) -> Any:
                return self._calc(model_id, price_provider, genai_prices.Usage(input_tokens=tokens, **usage))

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

    def cost(self, model_id: str, price_provider: str | None, usage: TokenUsage) -> int:
        """The exact cost of a finished request in nano-dollars, rounded up."""
        if usage.reported_cost_usd is not None:
            return usd_to_nanos(usage.reported_cost_usd)
        if override := self._override(model_id):
            uncached = usage.input_tokens - usage.cache_read_tokens
            usd = (
                uncached * override.input
                + usage.cache_read_tokens * override.cached_input
                + usage.output_tokens * override.output
            ) / MTOK
            return usd_to_nanos(usd)
        if listed := self._listed(model_id, price_provider):  # no reported cost: the list's prices
            return usd_to_nanos(listed.cost_usd(usage))
        priced = self._calc(model_id, price_provider, genai_usage(usage))
        return usd_to_nanos(Decimal(priced.total_price))


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
    """ "$0.15/$0.60 per 1M in/out" for menus."""
    plus = "+" if rates.tiered else ""
    if rates.input == 0 and rates.output == 0:
        return "free"
    return f"${rates.input:g}/${rates.output:g}{plus} per 1M in/out"
