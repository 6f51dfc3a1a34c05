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

The parts: `rates` (what a price is: `Rates`, `UnpricedModel` and its reasons, `describe`), `files` (the
price files), `genai` (reading genai-prices, and its updater) and `pricer` (`Pricer`, which chooses among
them). Other packages import from here.
"""

from bot.pricing.files import BUNDLED_FILE, PriceFileError, PriceFileRow, load_overrides
from bot.pricing.genai import PriceFetchFailed, genai_source, genai_usage, price_updates
from bot.pricing.pricer import TOP_TIER_TOKENS, Pricer
from bot.pricing.rates import (
    MTOK,
    NO_PRICE,
    PER_SEARCH,
    UNCOUNTED_OUTPUT,
    PriceSource,
    Rates,
    Tier,
    UnpricedModel,
    describe,
)

__all__ = [
    "BUNDLED_FILE",
    "MTOK",
    "NO_PRICE",
    "PER_SEARCH",
    "TOP_TIER_TOKENS",
    "UNCOUNTED_OUTPUT",
    "PriceFetchFailed",
    "PriceFileError",
    "PriceFileRow",
    "PriceSource",
    "Pricer",
    "Rates",
    "Tier",
    "UnpricedModel",
    "describe",
    "genai_source",
    "genai_usage",
    "load_overrides",
    "price_updates",
]
