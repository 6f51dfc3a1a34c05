"""What the fake model APIs bill for the images they receive, each by its provider's published formula,
written out here independently of the bot (`bot.media.image_tokens`), so a test compares the bot's charge
with a count the bot did not make. A part that is not a real image is what the real APIs refuse with 400.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
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


# The OpenAI-compatible APIs that take JPEG and PNG only (xAI's and Zhipu's guides): anything else is a 400.
JPEG_OR_PNG = ("image/jpeg", "image/png")


def compatible_image(url: str, detail: str, model: str) -> Billed:
    """An `image_url` part on any OpenAI-compatible API the fake stands in for, billed by the rule of the
    model's maker (an OpenRouter id's "vendor/" prefix is dropped): Mistral's, xAI's, Qwen's, GLM's, Kimi's,
    else OpenAI's."""
    name = model.rsplit("/", 1)[-1].lower()
    rule = maker_rule(name)
    if rule is None:
        return openai_image(url, detail, name)
    formats = JPEG_OR_PNG if name.startswith(("grok", "glm")) else None
    head, width, height = _inline(url, formats)
    return Billed(head, width, height, rule(width, height))


def maker_rule(name: str) -> Callable[[int, int], int] | None:
    """Tokens for an image of a size, by the rule of the maker of the model `name` (None: OpenAI's)."""
    if name.startswith(("pixtral", "mistral-", "ministral", "magistral")):
        return lambda w, h: mistral_tokens(w, h, name)
    if name.startswith("grok"):
        return xai_tokens
    if name.startswith(("qwen", "qvq")):
        return lambda w, h: qwen_tokens(w, h, name)
    if name.startswith("glm"):
        return glm_tokens
    if name.startswith(("kimi", "moonshot")):
        return kimi_tokens
    return None


def _inline(url: str, formats: tuple[str, ...] | None = None) -> tuple[str, int, int]:
    """The MIME type and size of a base64 data URL (`formats`: the only types the API takes)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise NotAnImage("expected a base64 data URL")
    head, encoded = url[5:].split(";base64,", 1)
    if formats is not None and head not in formats:
        raise NotAnImage(f"unsupported image type {head}")
    return (head, *_size(base64.b64decode(encoded)))


def mistral_tokens(width: int, height: int, name: str) -> int:
    """Mistral's tokenizer (mistral-common's ImageEncoder): the image brought within its largest size keeping
    its ratio (sides rounded), cut in patches (Pixtral: 16 px up to 1024; Mistral Small/Medium/Large 3 and
    Ministral 3: 14-px patches merged 2x2, 28 px up to 1540), one token a patch and an [IMG_BREAK] (the last
    an [IMG_END]) closing each row."""
    patch, largest = (16, 1024) if name.startswith("pixtral") else (28, 1540)
    ratio = max(width / largest, height / largest)
    w, h = (round(width / ratio), round(height / ratio)) if ratio > 1 else (width, height)
    cols, rows = (w - 1) // patch + 1, (h - 1) // patch + 1
    return rows * (cols + 1)


def xai_tokens(width: int, height: int) -> int:
    """xAI: 448x448 tiles of 256 tokens, plus one extra tile, at most 6 tiles."""
    tiles = min(math.ceil(width / 448) * math.ceil(height / 448), 6)
    return (tiles + 1) * 256


def _smart_resize(width: int, height: int, factor: int, least: int, most: int) -> tuple[int, int]:
    """Qwen-VL's (and GLM-4.xV's) resizing: each side rounded to a multiple of `factor`, then scaled into
    [least, most] pixels, as Alibaba's documented token_calculate does it."""
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > most:
        beta = math.sqrt(height * width / most)
        h_bar, w_bar = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < least:
        beta = math.sqrt(least / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


QWEN_32_PX = ("qwen3-vl", "qwen-vl-max-2025-08-13", "qwen-vl-plus-2025-08-15", "qwen-vl-plus-2025-07-10")


def qwen_tokens(width: int, height: int, name: str) -> int:
    """Model Studio: one token per 28x28 px (32x32 on Qwen3-VL and the 2025-07/08 snapshots) after
    smart_resize into 4 to 1,280 tokens' worth of pixels, plus <vision_bos> and <vision_eos>."""
    factor = 32 if name.startswith(QWEN_32_PX) else 28
    w, h = _smart_resize(width, height, factor, 4 * factor * factor, 1280 * factor * factor)
    return w * h // (factor * factor) + 2


def glm_tokens(width: int, height: int) -> int:
    """GLM-4.xV as its open image processor counts (Zhipu publishes no formula): 14-px patches merged 2x2,
    one token per 28x28 px after smart_resize into [112x112, 28x28x15000] pixels, plus the begin and end
    of the image."""
    w, h = _smart_resize(width, height, 28, 112 * 112, 28 * 28 * 15000)
    return w * h // (28 * 28) + 2


def kimi_tokens(width: int, height: int) -> int:
    """Kimi (no formula published): a stand-in by its MoonViT encoder, 14-px patches merged 2x2, one
    token per 28x28 px."""
    return math.ceil(width / 28) * math.ceil(height / 28)
