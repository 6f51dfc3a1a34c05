"""The provider catalog: data, not code. The providers themselves are tables in `catalog.toml`.

Adding a provider that speaks a known wire format is a new table there. Each says which wire format the
provider speaks, where it lives by default, which environment variables hold its key and override its
base URL, under which id genai-prices knows its prices (absent: only the owner's price file can price it),
and a short curated list of current models for `/model`. Any other model the provider serves can still be
chosen by id, as long as it has a price.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Literal, get_args

Wire = Literal["openai", "anthropic", "gemini", "azure"]
# How a provider's usage report is read: which of its fields are inside which (cached inside the prompt,
# reasoning inside the completion or on top of it, a reported dollar cost). Each reading is written out in
# its wire module: `openai_compat.usage_from` for the OpenAI-compatible ones, anthropic.py and gemini.py
# for the two others (one reading each).
UsageReading = Literal["openai", "deepseek", "moonshot", "xai", "openrouter", "anthropic", "gemini"]
READINGS: dict[str, tuple[UsageReading, ...]] = {  # per wire format; the first is its default
    "openai": ("openai", "deepseek", "moonshot", "xai", "openrouter"),
    "azure": ("openai",),
    "anthropic": ("anthropic",),
    "gemini": ("gemini",),
}


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as data: adding one that speaks a known wire format is a new row, not new code."""

    name: str  # the model-id prefix: "openai" in "openai/gpt-4o-mini"
    title: str  # shown in menus
    wire: Wire
    base_url: str  # the vendor SDK's convention (OpenAI-compatible ones include the version path)
    base_url_env: str
    key_env: str | None = None  # None: the server takes no key (local servers, the demo)
    price_provider: str | None = None  # genai-prices provider id; None: priced by the owner's price file only
    models: tuple[str, ...] = ()
    # OpenAI-compatible servers differ in small ways:
    output_limit_field: str = "max_tokens"  # OpenAI itself wants "max_completion_tokens"
    stream_usage_option: bool = True  # send stream_options.include_usage (some servers reject it)
    extra_body: tuple[tuple[str, object], ...] = ()  # fixed extra request fields
    usage: UsageReading = "openai"  # how its usage reports read; one of READINGS[wire]
    configured_without_key: bool = False  # local servers: usable once their base URL is set
    version_path: str = ""  # appended to a base URL that lacks it (Ollama documents its URL without /v1)
    image_detail: bool = False  # send OpenAI's `detail` with each image: only where the API documents it


class CatalogError(ValueError):
    """catalog.toml names a setting or wire format that does not exist (a typo must not go unnoticed)."""


def load_catalog(text: str) -> tuple[ProviderSpec, ...]:
    """The providers of a catalog file, in its order; one table per provider, named by its id prefix."""
    return tuple(_spec(name, row) for name, row in tomllib.loads(text).items())


def _spec(name: str, row: dict[str, Any]) -> ProviderSpec:
    known = {f.name for f in fields(ProviderSpec)} - {"name"}
    unknown = sorted(set(row) - known)
    if unknown:
        raise CatalogError(f"[{name}]: unknown setting {unknown[0]!r}")
    if row.get("wire") not in get_args(Wire):
        raise CatalogError(f"[{name}]: wire must be one of {', '.join(get_args(Wire))}")
    readings = READINGS[row["wire"]]
    usage = row.get("usage", readings[0])
    if usage not in readings:
        raise CatalogError(f"[{name}]: usage must be one of {', '.join(readings)} for wire {row['wire']!r}")
    values = {
        **row,
        "usage": usage,
        "models": tuple(row.get("models", ())),
        "extra_body": tuple(row.get("extra_body", {}).items()),
    }
    return ProviderSpec(name=name, **values)


CATALOG: tuple[ProviderSpec, ...] = load_catalog(
    resources.files("bot.providers").joinpath("catalog.toml").read_text(encoding="utf-8")
)
BY_NAME: dict[str, ProviderSpec] = {spec.name: spec for spec in CATALOG}
