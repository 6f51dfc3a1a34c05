"""What an image costs in input tokens, by each provider's own formula: the arithmetic, for the families of
vision.toml (the data). Each family also says how big an image is worth sending (`fit`): anything larger
is scaled down by the provider anyway, so we scale it first and send fewer bytes, and the count below is
then exact for the image as sent.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.providers.base import Detail

Formula = Literal["tiles", "patches", "pixels", "gemini", "flat", "grid"]

# OpenAI's tiles: the image is fitted within 2048x2048, then its short side to 768, then cut in 512-px tiles.
TILE_FIT, TILE_SHORT_SIDE, TILE = 2048, 768, 512
# OpenAI's patches: 32-px patches, at most 1536 of them (a larger image is scaled down to fit).
PATCH, MAX_PATCHES = 32, 1536
# Anthropic: a long edge over 1568 px is scaled down; about 1.15 megapixels (1600 tokens) at most.
PIXELS_LONG_EDGE, PIXELS_PER_TOKEN, MAX_PIXEL_TOKENS = 1568, 750, 1600
# Gemini 2.x: an image within 384x384 is 258 tokens; a larger one is cut into tiles of 258 tokens each.
GEMINI_SMALL, GEMINI_TILE_TOKENS, GEMINI_LONG_EDGE = 384, 258, 3072
# The formats an image is checked to be (images.FORMATS); a family's API may take fewer (xAI: JPEG, PNG).
ALL_FORMATS = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


@dataclass(frozen=True)
class Family:
    """How one family of models bills an image (a row of vision.toml)."""

    formula: Formula
    base: int = 0  # tiles: tokens for any image (all of a "low" detail one)
    per_tile: int = 0  # tiles: tokens per 512-px tile
    multiplier: Decimal = Decimal(1)  # patches
    tokens: int = 0  # flat
    long_edge: int = 0  # flat, grid: the largest side worth sending (grid: 0 for no limit)
    # grid: the image cut in `cell`-px squares, each `per_cell` tokens, plus `per_row` at the end of each
    # row and `extra` per image; at most `max_cells` cells (0: no limit), an image of fewer than
    # `min_cells` scaled up to them by the provider
    cell: int = 0
    per_cell: int = 1
    per_row: int = 0
    extra: int = 0
    max_cells: int = 0
    min_cells: int = 0
    formats: frozenset[str] = ALL_FORMATS  # the MIME types its API takes; others are sent as JPEG or PNG
    listed_only: bool = False  # OpenRouter's unknown families: only for a model its list says takes images

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """The size the provider would bring the image to before counting it: never larger than it is."""
        match self.formula:
            case "tiles":
                width, height = _scale(width, height, TILE_FIT / max(width, height))
                return _scale(width, height, TILE_SHORT_SIDE / min(width, height))
            case "patches":
                patches = math.ceil(width / PATCH) * math.ceil(height / PATCH)
                if patches <= MAX_PATCHES:
                    return width, height
                ratio = math.sqrt(PATCH * PATCH * MAX_PATCHES / (width * height))
                # whole patches on both sides, as OpenAI's own description goes on to do
                ratio *= min(
                    math.floor(width * ratio / PATCH) / (width * ratio / PATCH),
                    math.floor(height * ratio / PATCH) / (height * ratio / PATCH),
                )
                return _scale(width, height, ratio)
            case "pixels":
                width, height = _scale(width, height, PIXELS_LONG_EDGE / max(width, height))
                most = MAX_PIXEL_TOKENS * PIXELS_PER_TOKEN
                return _scale(width, height, math.sqrt(most / (width * height)))
            case "gemini":
                return _scale(width, height, GEMINI_LONG_EDGE / max(width, height))
            case "flat":
                return _scale(width, height, self.long_edge / max(width, height))
            case "grid":
                if self.long_edge:
                    width, height = _scale(width, height, self.long_edge / max(width, height))
                if self.max_cells and self._cells(width, height)[0] > self.max_cells:
                    width, height = self._fit_cells(width, height)
                return width, height

    def count(self, width: int, height: int, detail: Detail = "high") -> int:
        """Input tokens for an image of this size (as `fit` left it) at `detail` (OpenAI's tiles only)."""
        match self.formula:
            case "tiles":
                if detail == "low":
                    return self.base
                tiles = math.ceil(width / TILE) * math.ceil(height / TILE)
                return self.base + self.per_tile * tiles
            case "patches":
                patches = min(math.ceil(width / PATCH) * math.ceil(height / PATCH), MAX_PATCHES)
                return math.ceil(patches * self.multiplier)
            case "pixels":
                return min(math.ceil(width * height / PIXELS_PER_TOKEN), MAX_PIXEL_TOKENS)
            case "gemini":
                if width <= GEMINI_SMALL and height <= GEMINI_SMALL:
                    return GEMINI_TILE_TOKENS
                # Google's tiling: a crop unit of two thirds of the short side, tiles of it across and down
                unit = max(math.floor(min(width, height) / 1.5), 1)
                return GEMINI_TILE_TOKENS * math.ceil(width / unit) * math.ceil(height / unit)
            case "flat":
                return self.tokens
            case "grid":
                cells, rows = self._cells(width, height)
                return self.per_cell * cells + self.per_row * rows + self.extra

    def _cells(self, width: int, height: int) -> tuple[int, int]:
        """Grid: (cells, rows) of an image of this size as the provider cuts it. An image under
        `min_cells` is scaled up first (Qwen's smart_resize rounds each side up after scaling): each side
        is counted one cell past its scaled length, above what any rounding of it can reach."""
        cols, rows = math.ceil(width / self.cell), math.ceil(height / self.cell)
        if self.min_cells and width * height < self.min_cells * self.cell * self.cell:
            beta = math.sqrt(self.min_cells * self.cell * self.cell / (width * height))
            up_cols = math.floor(width * beta / self.cell) + 1
            up_rows = math.floor(height * beta / self.cell) + 1
            if up_cols * up_rows > cols * rows:
                cols, rows = up_cols, up_rows
        return cols * rows, rows

    def _fit_cells(self, width: int, height: int) -> tuple[int, int]:
        """Grid: the largest scaling of the image that fits `max_cells` whole cells, over every arrangement
        of columns and rows (a 4:3 photo on xAI's 6 tiles: 3 x 2, not the 2 x 2 that scaling the area alone
        would leave). With `cols` columns the width allows cols x cell / width, growing with `cols`, and the
        rows left allow (max_cells // cols) x cell / height, shrinking: the best is where they cross."""
        most = self.max_cells

        def ratio(cols: int) -> float:
            return min(cols * self.cell / width, (most // cols) * self.cell / height)

        def width_binds(cols: int) -> bool:
            return cols * self.cell / width >= (most // cols) * self.cell / height

        crossing = bisect_left(range(1, most + 1), True, key=width_binds) + 1
        fitted = _scale(width, height, max(ratio(c) for c in (crossing - 1, crossing) if 1 <= c <= most))
        while self._cells(*fitted)[0] > self.max_cells:  # floating point at a cell's edge
            fitted = _scale(*fitted, (max(fitted) - 1) / max(fitted))
        return fitted

    @property
    def has_low_detail(self) -> bool:
        """Whether the wire format can ask for a cheap look at the whole image (OpenAI's `detail: low`)."""
        return self.formula == "tiles"


@dataclass(frozen=True)
class Sizing:
    """One way of sending an image: its size, OpenAI's detail, and what it costs in input tokens."""

    width: int
    height: int
    detail: Detail
    tokens: int
    formats: frozenset[str] = ALL_FORMATS  # what the model's API takes (`Family.formats`)


# Long edges tried, after the full size, when the allowance can't pay for an image at full size.
SMALLER_EDGES = (1024, 768, 512, 384)


def sizings(family: Family, width: int, height: int) -> list[Sizing]:
    """The ways of sending a `width`x`height` image to this family, dearest first: the full size the
    provider would look at, then smaller ones (a low detail look where the format has one), each cheaper
    than the one before. The first is what is sent when the allowance can pay it."""
    found: list[Sizing] = []
    fitted = family.fit(width, height)
    candidates = [fitted] + [_scale(*fitted, edge / max(fitted)) for edge in SMALLER_EDGES]
    for w, h in candidates:
        tokens = family.count(w, h)
        if not found or tokens < found[-1].tokens:
            found.append(Sizing(w, h, "high", tokens, family.formats))
    if family.has_low_detail:
        w, h = _scale(*fitted, TILE / max(fitted))
        if family.count(w, h, "low") < found[-1].tokens:
            found.append(Sizing(w, h, "low", family.count(w, h, "low"), family.formats))
    return found


def _scale(width: int, height: int, ratio: float) -> tuple[int, int]:
    """Scaled down by `ratio` (never up), each side at least one pixel and never rounded up past it (the
    nudge keeps 3000 x 1568/3000 at 1568, where floating point says 1567.99...)."""
    if ratio >= 1:
        return width, height
    return max(math.floor(width * ratio + 1e-6), 1), max(math.floor(height * ratio + 1e-6), 1)
