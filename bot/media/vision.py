"""Which models see images, and how each bills one: vision.toml, read once (a typo there stops start-up
through the first lookup, in tests as in production)."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from decimal import Decimal
from fnmatch import fnmatchcase
from importlib import resources
from typing import get_args

from bot.media.image_tokens import Family, Formula
from bot.providers.catalog import ProviderSpec

# At most this many models that see are named when the chosen one can't.
SEEING_NAMED = 5


class VisionTableError(ValueError):
    """vision.toml names a formula that does not exist, or a family without its numbers."""


@functools.cache
def families() -> tuple[tuple[tuple[str, ...], Family], ...]:
    """The rows of vision.toml in order: (model patterns, family)."""
    data = tomllib.loads(resources.files("bot.media").joinpath("vision.toml").read_text(encoding="utf-8"))
    rows = []
    for row in data.get("family", []):
        formula = row.get("formula")
        if formula not in get_args(Formula):
            raise VisionTableError(f"vision.toml: unknown formula {formula!r}")
        family = Family(
            formula=formula,
            base=int(row.get("base", 0)),
            per_tile=int(row.get("per_tile", 0)),
            multiplier=Decimal(str(row.get("multiplier", 1))),
            tokens=int(row.get("tokens", 0)),
            long_edge=int(row.get("long_edge", 0)),
        )
        if (formula == "tiles" and not family.per_tile) or (formula == "flat" and not family.long_edge):
            raise VisionTableError(f"vision.toml: a {formula!r} family without its numbers")
        rows.append((tuple(p.lower() for p in row["models"]), family))
    return tuple(rows)


def family_for(model_id: str) -> Family | None:
    """How the model bills an image, or None when it can't see."""
    key = model_id.lower()
    for patterns, family in families():
        if any(fnmatchcase(key, pattern) for pattern in patterns):
            return family
    return None


def seeing(model_ids: list[str]) -> list[str]:
    """The ones of `model_ids` that see images, in their order."""
    return [model_id for model_id in model_ids if family_for(model_id) is not None]


def seeing_models(configured: Iterable[ProviderSpec]) -> tuple[str, ...]:
    """Models that see images, for a refusal to name (chat's and the gateway's): the first of each
    configured provider's list that sees, at most `SEEING_NAMED`."""
    firsts = []
    for spec in configured:
        firsts.extend(seeing([f"{spec.name}/{name}" for name in spec.models])[:1])
    return tuple(firsts[:SEEING_NAMED])
