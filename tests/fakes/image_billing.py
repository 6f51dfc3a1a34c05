"""What the fake model APIs bill for the images they receive, each by its provider's published formula,
written out here independently of the bot (`bot.media.image_tokens`), so a test compares the bot's charge
with a count the bot did not make. A part that is not a real image is what the real APIs refuse with 400.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class Billed:
    """One image as the fake received and billed it."""

    mime: str
    width: int
    height: int
    tokens: int
    detail: str = ""


class NotAnImage(ValueError):
    pass


def _size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.size
    except Exception:
        raise NotAnImage("Invalid image data") from None


def openai_image(url: str, detail: str, model: str) -> Billed:
    """An `image_url` part: a base64 data URL; gpt-4o-mini bills 2833 + 5667 per tile, the gpt-4o family
    85 + 170 (fit 2048x2048, shortest side 768, tiles of 512; "low" is the base alone)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise NotAnImage("expected a base64 data URL")
    head, encoded = url[5:].split(";base64,", 1)
    width, height = _size(base64.b64decode(encoded))
    base, tile = (2833, 5667) if model.startswith("gpt-4o-mini") else (85, 170)
    if detail == "low":
        return Billed(head, width, height, base, detail)
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        w, h = w * 2048 / max(w, h), h * 2048 / max(w, h)
    if min(w, h) > 768:
        w, h = w * 768 / min(w, h), h * 768 / min(w, h)
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return Billed(head, width, height, base + tile * tiles, detail)


def anthropic_image(source: dict[str, str]) -> Billed:
    """A base64 `image` source: width x height / 750 after the long edge is brought to 1568 px."""
    if source.get("type") != "base64":
        raise NotAnImage("expected a base64 source")
    width, height = _size(base64.b64decode(source["data"]))
    scale = min(1.0, 1568 / max(width, height))
    tokens = math.ceil(math.floor(width * scale) * math.floor(height * scale) / 750)
    return Billed(source["media_type"], width, height, min(tokens, 1600))


def gemini_image(inline: dict[str, str]) -> Billed:
    """`inline_data`: 258 tokens for an image within 384x384, else 258 per tile, tiles two thirds of the
    short side across and down."""
    width, height = _size(base64.b64decode(inline["data"]))
    if width <= 384 and height <= 384:
        return Billed(inline["mime_type"], width, height, 258)
    unit = math.floor(min(width, height) / 1.5)
    return Billed(
        inline["mime_type"], width, height, 258 * math.ceil(width / unit) * math.ceil(height / unit)
    )
