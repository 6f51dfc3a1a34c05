"""`python -m bot prices [model…]`: the prices capbot holds and charges, for the owner to audit.

Per model: where its prices come from (genai-prices with its data's version or fetch time, a price file,
or OpenRouter's list), the rates in use now (input, cached input, cache write, output, reasoning, per
request, tiers) and the context window. A model capbot would refuse is one line saying why, and the exit
code is then 1. It reads the same settings as the bot (PRICES_FILE, PRICES_UPDATE) and needs no database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

from bot.cli import OneLineParser
from bot.config import Settings
from bot.pricing import Pricer, Rates, UnpricedModel, price_updates
from bot.providers.catalog import BY_NAME, CATALOG
from bot.providers.http import create_session
from bot.providers.openrouter_models import openrouter_list
from bot.providers.registry import Providers

# With PRICES_UPDATE on, wait this long for a first fetch so the prices shown are the ones the bot uses.
FETCH_WAIT_SECONDS = 15.0
HINT = "set its price in PRICES_FILE to use it"


def add_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """Register `prices` on the main parser."""
    prices = sub.add_parser(
        "prices",
        help="the prices in use per model, and where they come from",
        description="Without model ids: the curated models (bot/providers/catalog.toml) of every provider "
        "configured in the settings; with --all, of every provider in the catalog. Prices are USD, per "
        "million tokens unless said otherwise. Exit code 1 when a model shown is refused.",
    )
    prices.add_argument("models", nargs="*", metavar="provider/model", help="models to show")
    prices.add_argument(
        "--all", action="store_true", help="every catalog provider's curated models, configured or not"
    )


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print each model's prices; 0 when all are usable, 1 when any is unknown or refused."""
    return asyncio.run(_run(settings, args, out or sys.stdout))


async def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    pricer = Pricer.from_file(settings.prices_file)
    async with create_session(settings) as session, openrouter_list(settings, session) as openrouter:
        pricer.openrouter = openrouter  # OpenRouter's models at OpenRouter's prices, as the bot prices them
        models = args.models
        if not models:
            specs = CATALOG if args.all else Providers(settings, session).configured()
            models = [f"{spec.name}/{name}" for spec in specs for name in spec.models]
        if not models:
            print("No provider is configured: name models, or add --all.", file=out)
            return 0
        with price_updates(settings.prices_update, settings.prices_update_url, wait=FETCH_WAIT_SECONDS):
            now = datetime.now(UTC)
            print(
                f"Prices in use at {now:%Y-%m-%d %H:%M} UTC: USD per million tokens (per request: USD).",
                file=out,
            )
            refused = 0
            for model_id in models:
                usable, lines = _describe(pricer, model_id.strip(), now)
                refused += not usable
                print("\n".join(["", *lines]), file=out)
    return 1 if refused else 0


def _describe(pricer: Pricer, model_id: str, now: datetime) -> tuple[bool, list[str]]:
    """(usable, lines): a block for a model capbot serves, one line for one it refuses."""
    prefix, slash, name = model_id.partition("/")
    if not slash or not prefix or not name:
        return False, [f"{model_id}: not a model id (provider/model, e.g. openai/gpt-4o-mini)"]
    spec = BY_NAME.get(prefix.lower())
    try:
        rates = pricer.rates(model_id, spec.price_provider if spec else None, now)
    except UnpricedModel as unpriced:
        if spec is None:
            return False, [
                f"{model_id}: refused: there is no provider called {prefix!r} and no price file prices it"
            ]
        return False, [f"{model_id}: refused: {unpriced.reason}; {HINT}"]
    return True, [model_id, *_rate_lines(rates)]


def _rate_lines(rates: Rates) -> Iterator[str]:
    source = str(rates.source)
    if rates.scheduled:
        source += "; changes by date or time of day (these are the prices now)"
    cache_write = _usd(rates.cache_write) + (" (as input)" if rates.cache_write == rates.input else "")
    reasoning = _usd(rates.reasoning) + (" (as output)" if rates.reasoning == rates.output else "")
    rows = [
        ("source", source),
        ("input", _usd(rates.input)),
        ("cached input", _usd(rates.cached_input)),
        ("cache write", cache_write),
        ("output", _usd(rates.output)),
        ("reasoning", reasoning),
        ("per request", _usd(rates.per_request) if rates.per_request else "none"),
        ("tiers", "none" if not rates.tiers else ""),
    ]
    for label, value in rows:
        yield f"  {label + ':':<16}{value}".rstrip()
    for tier in rates.tiers:
        prices = ", ".join(f"{what} {_usd(price)}" for what, price in tier.prices)
        yield f"    above {tier.above:,} input tokens: {prices}"
    window = f"{rates.context_window:,} tokens" if rates.context_window else "unknown"
    yield f"  {'context window:':<16}{window}"


def _usd(value: Decimal) -> str:
    """Exact, without exponent or trailing zeros: $0.075, $15."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"${text}"
