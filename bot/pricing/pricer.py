"""`Pricer`: a model's rates, the worst case of a request (`quote`) and its cost, from the first source that
prices the model: a price file's row, OpenRouter's own list for its models, else genai-prices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices

from bot.ledger import Quote
from bot.money import NANOS_PER_USD, usd_to_nanos
from bot.pricing.files import PriceFileRow, load_overrides
from bot.pricing.genai import genai_entry, genai_price, genai_rates, genai_usage
from bot.pricing.rates import MTOK, PriceSource, Rates, UnpricedModel, per_mtok
from bot.providers.base import TokenUsage
from bot.providers.openrouter_models import ListedModel, OpenRouterList
from bot.providers.transcription import AudioUsage

# More input tokens than any price tier starts at: a request this size is priced at the dearest tier.
# A power of ten, so scaling its price back to a real input size is exact in Decimal.
TOP_TIER_TOKENS = 10**12
SECONDS_PER_MINUTE = Decimal(60)


class Pricer:
    """Prices models by id ("provider/model") given the genai-prices provider id from the catalog.

    `quote`, `cost` and `rates` take the moment to price at: the request's start for a quote and its cost,
    so both see the same prices. `rates` defaults to now (the clock), for menus.
    """

    def __init__(
        self, overrides: Mapping[str, PriceFileRow], clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._overrides = dict(overrides)
        self._clock = clock
        self._top_tiers: dict[tuple[str, str | None], tuple[object, tuple[Decimal, Decimal, Decimal]]] = {}
        # OpenRouter's list, set by `bot.core.open_core` when OpenRouter is configured: once loaded it
        # prices OpenRouter's models instead of genai-prices (an owner's override still wins)
        self.openrouter: OpenRouterList | None = None

    @classmethod
    def from_file(cls, path: Path | None, clock: Callable[[], datetime] | None = None) -> Pricer:
        """The bundled overrides plus the owner's PRICES_FILE; a bad file stops start-up (PriceFileError)."""
        overrides = load_overrides(path)
        return cls(overrides, clock) if clock else cls(overrides)

    def _override(self, model_id: str, *, audio: bool = False) -> PriceFileRow | None:
        """The price file's row for the model (or its provider's "provider/*"); refused if it prices
        nothing without saying it means to (for chat, or for transcription when `audio`)."""
        key = model_id.lower()
        provider = key.split("/", 1)[0]
        override = self._overrides.get(key) or self._overrides.get(f"{provider}/*")
        if override is not None and not (override.usable_for_audio if audio else override.usable):
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
                input=per_mtok(listed.prompt),
                output=per_mtok(listed.completion),
                cached_input=per_mtok(cached),
                context_window=listed.context_length,
                source=PriceSource("openrouter", "OpenRouter's model list"),
                cache_write=per_mtok(written),
                reasoning=per_mtok(reasoning),
                per_request=listed.request,
                max_output=listed.max_completion_tokens,
            )
        return genai_rates(*genai_entry(model_id, price_provider, at or self._clock()))

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
            _, price = genai_entry(model_id, price_provider, at)  # refuses what can't be charged in full
            input_usd, per_token_usd, fixed_usd = self._genai_tier(model_id, price_provider, at, input_tokens)
            top_input, top_output, top_fee = self._top_tier(model_id, price_provider, at, price)
            # scale the top tier's price down to this input (exact)
            input_usd = max(input_usd, top_input * input_tokens / TOP_TIER_TOKENS)
            per_token_usd = max(per_token_usd, top_output)
            fixed_usd = max(fixed_usd, top_fee)
        return Quote(
            input_nanos=usd_to_nanos(input_usd + fixed_usd),
            output_nanos_per_token=per_token_usd * NANOS_PER_USD,
            max_output_tokens=max_output_tokens,
            min_output_tokens=min_output_tokens,
        )

    def _genai_tier(
        self, model_id: str, price_provider: str | None, at: datetime, tokens: int
    ) -> tuple[Decimal, Decimal, Decimal]:
        """genai-prices' dearest input (for `tokens` input tokens), dearest output per token, and
        per-request fee, in the tier `tokens` falls in."""

        def calc(**usage: int) -> genai_prices.types.PriceCalculation:
            return genai_price(model_id, price_provider, genai_prices.Usage(input_tokens=tokens, **usage), at)

        mtok = int(MTOK)
        plain = calc(output_tokens=mtok)
        written = calc(cache_write_tokens=tokens)
        thinking = calc(output_tokens=mtok, output_reasoning_tokens=mtok)
        dearest_input = max(Decimal(plain.input_price), Decimal(written.input_price))
        per_token = max(Decimal(plain.output_price) / MTOK, Decimal(thinking.output_price) / MTOK)
        # what is neither input nor output: a per-request fee (genai-prices counts one request)
        fee = Decimal(plain.total_price) - Decimal(plain.input_price) - Decimal(plain.output_price)
        return dearest_input, per_token, fee

    def _top_tier(
        self, model_id: str, price_provider: str | None, at: datetime, price: object
    ) -> tuple[Decimal, Decimal, Decimal]:
        """`_genai_tier` at `TOP_TIER_TOKENS`: the same for every request while the model's price entry
        is, so it is worked out once per model and entry (genai-prices re-resolves its units per call)."""
        key = (model_id, price_provider)
        cached = self._top_tiers.get(key)
        if cached is None or cached[0] is not price:
            cached = self._top_tiers[key] = (
                price,
                self._genai_tier(model_id, price_provider, at, TOP_TIER_TOKENS),
            )
        return cached[1]

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
        genai_entry(model_id, price_provider, at)
        priced = genai_price(model_id, price_provider, genai_usage(usage), at)
        return usd_to_nanos(Decimal(priced.total_price))

    def transcription_quote(
        self,
        model_id: str,
        price_provider: str | None,
        *,
        at: datetime,
        seconds: Decimal,
        audio_tokens: int,
        output_tokens: int,
    ) -> Quote:
        """The most a transcription of `seconds` of audio can cost: by the minute where a price file says
        so, else `audio_tokens` of audio input and `output_tokens` of transcript at the model's prices (the
        bounds the caller takes from the duration). All of it is input: a transcript can't be clamped."""
        if (override := self._override(model_id, audio=True)) and override.audio_minute is not None:
            usd = seconds / SECONDS_PER_MINUTE * override.audio_minute
        else:
            usage = AudioUsage(
                input_tokens=audio_tokens, audio_tokens=audio_tokens, output_tokens=output_tokens
            )
            usd = self._audio_usd(model_id, price_provider, usage, at)
        return Quote(usd_to_nanos(usd), Decimal(0), max_output_tokens=1, min_output_tokens=1)

    def transcription_cost(
        self, model_id: str, price_provider: str | None, usage: AudioUsage, *, at: datetime
    ) -> int | None:
        """The exact cost of a transcription from what it reported, in nano-dollars rounded up; None when
        the report can't be priced (seconds for a model priced by the token, or the other way round)."""
        override = self._override(model_id, audio=True)
        if override is not None and override.audio_minute is not None:
            if usage.seconds is None:
                return None
            return usd_to_nanos(usage.seconds / SECONDS_PER_MINUTE * override.audio_minute)
        if usage.seconds is not None:
            return None
        return usd_to_nanos(self._audio_usd(model_id, price_provider, usage, at))

    def _audio_usd(
        self, model_id: str, price_provider: str | None, usage: AudioUsage, at: datetime
    ) -> Decimal:
        """Audio tokens at the audio input rate (genai-prices; a price file's row has one input rate)."""
        if override := self._override(model_id, audio=True):
            return (usage.input_tokens * override.input + usage.output_tokens * override.output) / MTOK
        genai_entry(model_id, price_provider, at)
        priced = genai_price(
            model_id,
            price_provider,
            genai_prices.Usage(
                input_tokens=usage.input_tokens,
                input_audio_tokens=usage.audio_tokens or None,
                output_tokens=usage.output_tokens,
            ),
            at,
        )
        return Decimal(priced.total_price)
