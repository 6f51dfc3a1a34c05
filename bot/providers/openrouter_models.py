"""OpenRouter's own model list: what it serves and at what price, read at start and kept fresh.

`GET {OPENROUTER_BASE_URL}/models` lists every model with its prices in dollars per token, as strings
("0.00000015"), read here as `Decimal`. A price of "-1", a negative or a missing one means "unknown": a
model whose prompt or completion price is unknown is left out (it could not be charged fairly), and so is
one whose per-request fee is listed but unknown. Once the list is loaded it prices OpenRouter's models
(`bot.pricing.Pricer`) and fills /model's OpenRouter group; until it is (no key, or every fetch failed) the
genai-prices rows for OpenRouter are used, as the log says.

The list is fetched only when OpenRouter is configured, with the shared session and a short timeout at
start (start-up never waits long for it), then refreshed every `REFRESH_SECONDS` in the background. A
failed fetch keeps the last good list and logs one line; the key never appears in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import aiohttp

from bot.config import Settings
from bot.providers.catalog import BY_NAME
from bot.tokens import TokenCounts

log = logging.getLogger(__name__)

SPEC = BY_NAME["openrouter"]
START_TIMEOUT = 5.0  # seconds start-up may wait for the list before pricing by genai-prices instead
REFRESH_TIMEOUT = 30.0  # seconds a background refresh may take
REFRESH_SECONDS = 6 * 3600.0  # how often a loaded list is fetched again
RETRY_SECONDS = 600.0  # how soon to try again while no list has ever loaded
MAX_LIST_BYTES = 32 * 1024 * 1024  # the real list is a few MB; more is not a model list


class ModelListError(Exception):
    """The list could not be fetched or read. Its text is one safe line: it never holds the key."""


@dataclass(frozen=True)
class ListedModel:
    """One model as OpenRouter lists it: dollars per token (per request for `request`).

    None where OpenRouter gives no price (or "-1"): that kind of token is then priced as its plain kind
    (cache reads and writes as prompt tokens, reasoning as completion tokens).
    """

    id: str  # OpenRouter's id, without our "openrouter/" prefix: "openai/gpt-4o-mini"
    prompt: Decimal
    completion: Decimal
    request: Decimal = Decimal(0)  # a fee per request, on top of the tokens
    image: Decimal | None = None  # per input image: the most one image costs (bounds an unknown family's)
    internal_reasoning: Decimal | None = None
    input_cache_read: Decimal | None = None
    input_cache_write: Decimal | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None  # the top provider's output limit
    # what it takes in ("text", "image", "file", "audio"...); empty when the list doesn't say
    input_modalities: tuple[str, ...] = ()

    @property
    def dearest_input(self) -> Decimal:
        """The dearest rate any input token can be charged at (a cache write may cost more than a read)."""
        cached = (_or(price, self.prompt) for price in (self.input_cache_read, self.input_cache_write))
        return max(self.prompt, *cached)

    @property
    def dearest_output(self) -> Decimal:
        """The dearest rate any output token can be charged at (reasoning may have its own)."""
        return max(self.completion, _or(self.internal_reasoning, self.completion))

    def cost_usd(self, usage: TokenCounts) -> Decimal:
        """The exact dollars of a usage by these prices (input includes cached tokens, output reasoning)."""
        read = min(usage.cache_read_tokens, usage.input_tokens)
        written = min(usage.cache_write_tokens, usage.input_tokens - read)
        reasoning = min(usage.reasoning_tokens, usage.output_tokens)
        return (
            (usage.input_tokens - read - written) * self.prompt
            + read * _or(self.input_cache_read, self.prompt)
            + written * _or(self.input_cache_write, self.prompt)
            + (usage.output_tokens - reasoning) * self.completion
            + reasoning * _or(self.internal_reasoning, self.completion)
            + self.request
        )


def _or(price: Decimal | None, plain: Decimal) -> Decimal:
    return plain if price is None else price


def _price(raw: object) -> Decimal | None:
    """A listed price, or None when it is unknown: missing, "-1", negative, or not a number. A float is
    refused too (money is never float; OpenRouter sends strings)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return None
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


def _count(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else None


def parse_model(entry: object) -> ListedModel | None:
    """One entry of the list's `data`, or None when it cannot be priced (or is not a model at all)."""
    if not isinstance(entry, dict):
        return None
    model_id, pricing = entry.get("id"), entry.get("pricing")
    if not isinstance(model_id, str) or not model_id.strip() or not isinstance(pricing, dict):
        return None
    prompt, completion = _price(pricing.get("prompt")), _price(pricing.get("completion"))
    request = _price(pricing.get("request", "0"))
    if prompt is None or completion is None or request is None:
        return None
    top = entry.get("top_provider")
    architecture = entry.get("architecture")
    return ListedModel(
        id=model_id.strip(),
        prompt=prompt,
        completion=completion,
        request=request,
        image=_price(pricing.get("image")),
        internal_reasoning=_price(pricing.get("internal_reasoning")),
        input_cache_read=_price(pricing.get("input_cache_read")),
        input_cache_write=_price(pricing.get("input_cache_write")),
        context_length=_count(entry.get("context_length")),
        max_completion_tokens=_count(top.get("max_completion_tokens")) if isinstance(top, dict) else None,
        input_modalities=_modalities(architecture) if isinstance(architecture, dict) else (),
    )


def _modalities(architecture: dict[str, object]) -> tuple[str, ...]:
    """`architecture.input_modalities` (["text", "image"]), or the input side of its older `modality`
    string ("text+image->text"); () when it says neither."""
    listed = architecture.get("input_modalities")
    if isinstance(listed, list):
        return tuple(str(kind).strip().lower() for kind in listed if isinstance(kind, str))
    modality = architecture.get("modality")
    if isinstance(modality, str) and "->" in modality:
        return tuple(kind.strip().lower() for kind in modality.split("->", 1)[0].split("+") if kind.strip())
    return ()


def parse_models(body: bytes) -> list[ListedModel]:
    """The priceable models of a `/models` answer, in OpenRouter's order; `ModelListError` when the answer
    is not a model list or lists nothing that can be priced (an empty list must not replace a good one)."""
    try:
        payload = json.loads(body, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelListError("the answer was not JSON") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise ModelListError("the answer had no 'data' list")
    models = [model for model in map(parse_model, data) if model is not None]
    if not models:
        raise ModelListError(f"none of its {len(data)} entries had a usable price")
    return models


@dataclass(frozen=True)
class ListSource:
    """Where the list is fetched from. The key stays out of the repr, so it can't reach a log."""

    session: aiohttp.ClientSession
    base_url: str  # OPENROUTER_BASE_URL or the catalog's, with the version path: ".../api/v1"
    key: str = field(repr=False)

    async def fetch(self, seconds: float) -> list[ListedModel]:
        """`GET {base_url}/models`, read within `seconds` in all. Errors name the failure, never the key
        nor the answer's text (which might echo it)."""
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        try:
            async with self.session.get(
                f"{self.base_url}/models", headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
            ) as response:
                if response.status != 200:
                    raise ModelListError(f"HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_any():
                    body += chunk
                    if len(body) > MAX_LIST_BYTES:
                        raise ModelListError("the answer was too large")
        except TimeoutError:
            raise ModelListError(f"no answer within {seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise ModelListError(type(exc).__name__) from None
        return parse_models(bytes(body))


class OpenRouterList:
    """The models OpenRouter lists, as last fetched (swapped whole, so a reader never sees half a list).

    `loaded` is False until a fetch succeeds; until then OpenRouter is priced by genai-prices' rows.
    """

    price_provider = SPEC.price_provider  # the catalog's price id for OpenRouter's models

    def __init__(self, models: list[ListedModel] | None = None) -> None:
        self._models: Mapping[str, ListedModel] = {}
        self.fetched_at: datetime | None = None
        if models is not None:
            self.replace(models)

    @property
    def loaded(self) -> bool:
        return self.fetched_at is not None

    def prices(self, price_provider: str | None) -> bool:
        """Whether this list, rather than genai-prices, prices the models of `price_provider`."""
        return self.loaded and price_provider is not None and price_provider == self.price_provider

    def get(self, name: str) -> ListedModel | None:
        """A model by OpenRouter's id ("openai/gpt-4o-mini"), in any case."""
        return self._models.get(name.strip().lower())

    def models(self) -> tuple[ListedModel, ...]:
        """Every listed model, in OpenRouter's order (newest first)."""
        return tuple(self._models.values())

    def replace(self, models: list[ListedModel], when: datetime | None = None) -> None:
        self._models = {model.id.lower(): model for model in models}
        self.fetched_at = when or datetime.now(UTC)

    async def refresh(self, source: ListSource, seconds: float) -> bool:
        """Fetch the list again; on failure keep what there is and log one line. True when it loaded."""
        try:
            models = await source.fetch(seconds)
        except ModelListError as exc:
            if self.fetched_at is not None:
                kept = f"keeping the list fetched at {self.fetched_at:%Y-%m-%d %H:%M} UTC"
            else:
                kept = "pricing OpenRouter models by genai-prices' bundled rows until it can be"
            log.warning("OpenRouter's model list could not be fetched (%s); %s", exc, kept)
            return False
        self.replace(models)
        log.info("OpenRouter lists %d models with prices", len(models))
        return True

    async def keep_fresh(self, source: ListSource) -> None:
        """Refresh every `REFRESH_SECONDS` (`RETRY_SECONDS` while nothing has loaded) until cancelled."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS if self.loaded else RETRY_SECONDS)
            try:
                await self.refresh(source, REFRESH_TIMEOUT)
            except Exception:  # never let one bad answer end the refreshing for good
                log.exception("refreshing OpenRouter's model list failed")


@contextlib.asynccontextmanager
async def openrouter_list(
    settings: Settings, session: aiohttp.ClientSession
) -> AsyncIterator[OpenRouterList | None]:
    """OpenRouter's list, fetched now (at most `START_TIMEOUT` s) and refreshed in the background until
    the block ends; None when OpenRouter is not configured (no key: nothing is fetched)."""
    key = settings.secret(SPEC.key_env) if SPEC.key_env else None
    if not key:
        yield None
        return
    source = ListSource(session, (settings.setting(SPEC.base_url_env) or SPEC.base_url).rstrip("/"), key)
    listed = OpenRouterList()
    await listed.refresh(source, START_TIMEOUT)
    refreshing = asyncio.create_task(listed.keep_fresh(source), name="openrouter-models")
    try:
        yield listed
    finally:
        refreshing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refreshing
