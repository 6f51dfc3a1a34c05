"""Which models see images, and how each bills one: vision.toml, read once (a typo there stops start-up
through the first lookup, in tests as in production).

OpenRouter's models are known two ways. By name: `openrouter/openai/gpt-4o` is OpenAI's gpt-4o and bills
by OpenAI's formula, so vision.toml lists OpenRouter's ids next to each vendor's own. And by OpenRouter's
model list (`bot.providers.openrouter_models`), once it has loaded: a model whose `input_modalities` lack
"image" doesn't see whatever its name says, and one that takes images but belongs to no family vision.toml
knows is held at the `listed_only` row's conservative bound, or at OpenRouter's own price of an input image
when that is more.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from collections.abc import Iterable
from decimal import Decimal
from fnmatch import fnmatchcase
from importlib import resources
from typing import Any, get_args

from bot.media.image_tokens import ALL_FORMATS, Family, Formula
from bot.providers.catalog import ProviderSpec
from bot.providers.openrouter_models import ListedModel, OpenRouterList

OPENROUTER = "openrouter/"
# Every API takes these two, so an image of another format can always be re-encoded as one of them.
BASELINE_FORMATS = frozenset({"image/jpeg", "image/png"})
# At most this many models that see are named when the chosen one can't.
SEEING_NAMED = 5


class VisionTableError(ValueError):
    """vision.toml names a formula that does not exist, or a family without its numbers."""


@functools.cache
def families() -> tuple[tuple[tuple[str, ...], Family], ...]:
    """The rows of vision.toml in order: (model patterns, family)."""
    data = tomllib.loads(resources.files("bot.media").joinpath("vision.toml").read_text(encoding="utf-8"))
    return tuple(_row(row) for row in data.get("family", []))


def _row(row: dict[str, Any]) -> tuple[tuple[str, ...], Family]:
    formula: Any = row.get("formula")
    if formula not in get_args(Formula):
        raise VisionTableError(f"vision.toml: unknown formula {formula!r}")
    formats = frozenset(str(f) for f in row.get("formats", ALL_FORMATS))
    if not (formats >= BASELINE_FORMATS and formats <= ALL_FORMATS):
        raise VisionTableError(f"vision.toml: formats must include JPEG and PNG, of {sorted(ALL_FORMATS)}")
    numbers = {
        name: int(row.get(name, default))
        for name, default in (
            ("base", 0),
            ("per_tile", 0),
            ("tokens", 0),
            ("long_edge", 0),
            ("cell", 0),
            ("per_cell", 1),
            ("per_row", 0),
            ("extra", 0),
            ("max_cells", 0),
            ("min_cells", 0),
        )
    }
    family = Family(
        formula=formula,
        multiplier=Decimal(str(row.get("multiplier", 1))),
        formats=formats,
        listed_only=bool(row.get("listed_only", False)),
        **numbers,
    )
    if (
        (formula == "tiles" and not family.per_tile)
        or (formula == "flat" and not family.long_edge)
        or (formula == "grid" and not family.cell)
    ):
        raise VisionTableError(f"vision.toml: a {formula!r} family without its numbers")
    if family.listed_only and formula != "flat":
        raise VisionTableError("vision.toml: a listed_only family is a flat bound")
    return tuple(str(p).lower() for p in row["models"]), family


def _matching(key: str) -> Family | None:
    for patterns, family in families():
        if any(fnmatchcase(key, pattern) for pattern in patterns):
            return family
    return None


def family_for(model_id: str, openrouter: OpenRouterList | None = None) -> Family | None:
    """How the model bills an image, or None when it can't see. `openrouter`: OpenRouter's model list
    (`Pricer.openrouter`), which decides for OpenRouter's models once it has loaded (see the module's
    docstring); without it they are known by name only."""
    key = model_id.strip().lower()
    family = _matching(key)
    listed = _listed(key, openrouter)
    if listed is None or not listed.input_modalities:  # known by name only
        return family if family is not None and not family.listed_only else None
    if "image" not in listed.input_modalities:
        return None
    if family is None or not family.listed_only:
        return family
    return _with_listed_price(family, listed)


def _listed(key: str, openrouter: OpenRouterList | None) -> ListedModel | None:
    if openrouter is None or not openrouter.loaded or not key.startswith(OPENROUTER):
        return None
    return openrouter.get(key.removeprefix(OPENROUTER))


def _with_listed_price(family: Family, listed: ListedModel) -> Family:
    """An unknown family's bound, raised to OpenRouter's listed price of an input image (in prompt tokens,
    rounded up) where that is more: the most one image of that model can cost."""
    if not listed.image or not listed.prompt:
        return family
    priced = math.ceil(listed.image / listed.prompt)
    return dataclasses.replace(family, tokens=max(family.tokens, priced))


def seeing(model_ids: list[str], openrouter: OpenRouterList | None = None) -> list[str]:
    """The ones of `model_ids` that see images, in their order."""
    return [model_id for model_id in model_ids if family_for(model_id, openrouter) is not None]


def seeing_models(
    configured: Iterable[ProviderSpec], openrouter: OpenRouterList | None = None
) -> tuple[str, ...]:
    """Models that see images, for a refusal to name (chat's and the gateway's): the first of each
    configured provider's list that sees, at most `SEEING_NAMED`."""
    firsts = []
    for spec in configured:
        firsts.extend(seeing([f"{spec.name}/{name}" for name in spec.models], openrouter)[:1])
    return tuple(firsts[:SEEING_NAMED])
