"""Images as they are sent: the bytes checked to be a real image of a format every wire format takes
(whatever the platform declared), and scaled down with Pillow to the size the model would look at, or to
a smaller one the allowance can pay (`bot.media.image_tokens.sizings`)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from bot.i18n import _
from bot.media.image_tokens import Family, Sizing, sizings
from bot.providers.base import ImagePart

# What OpenAI, Anthropic and Gemini all take, by Pillow's format names.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# More pixels than any camera photo: a larger image is more likely a decompression bomb than a question.
MAX_PIXELS = 64_000_000
JPEG_QUALITY = 85


class BadImage(ValueError):
    """Not an image we can send: corrupt, of another format, or absurdly large (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckedImage:
    """An image that decoded in full: its bytes, real format and size."""

    data: bytes
    mime: str
    width: int
    height: int

    def ways(self, family: Family) -> list[Sizing]:
        """How it can be sent to a model of `family`, dearest first."""
        return sizings(family, self.width, self.height)

    def part(self, sizing: Sizing) -> ImagePart:
        """The image at `sizing`: the original bytes when that is its own size and the model's API takes
        its format, else scaled down (or re-encoded) as a JPEG, or a PNG when it has transparency: every
        API takes those two."""
        as_it_came = (sizing.width, sizing.height) == (self.width, self.height)
        if as_it_came and self.mime in sizing.formats and self.mime != "image/gif":
            return ImagePart(self.data, self.mime, sizing.tokens, sizing.detail)
        with Image.open(io.BytesIO(self.data)) as image:
            image.seek(0)  # an animated GIF: its first frame
            smaller = image.convert("RGBA" if _has_alpha(image) else "RGB")
            smaller = smaller.resize((sizing.width, sizing.height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if smaller.mode == "RGBA":
            smaller.save(out, "PNG", optimize=True)
            return ImagePart(out.getvalue(), "image/png", sizing.tokens, sizing.detail)
        smaller.save(out, "JPEG", quality=JPEG_QUALITY)
        return ImagePart(out.getvalue(), "image/jpeg", sizing.tokens, sizing.detail)


def check_image(data: bytes) -> CheckedImage:
    """The image in `data`, decoded in full so a truncated or corrupt file is found now, not by the
    provider after the hold; raises `BadImage`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                if kind not in FORMATS:
                    raise BadImage(
                        _("{kind} images can't be sent; use JPEG, PNG, WebP or GIF").format(kind=kind)
                        if kind
                        else _("this kind of image can't be sent; use JPEG, PNG, WebP or GIF")
                    )
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise BadImage(_("the image has too many pixels"))
                image.load()
        except BadImage:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise BadImage(_("the image has too many pixels")) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise BadImage(_("the file is not an image, or it is damaged")) from None
    return CheckedImage(data, FORMATS[kind], width, height)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def image_levels(
    family: Family, images: Sequence[CheckedImage], low: Sequence[bool] = ()
) -> list[tuple[Sizing, ...]]:
    """Ways of sending all `images` to one model, dearest first: every image at full size, then each a step
    smaller (an image with no smaller way stays as it is), down to the cheapest way of each. [()] when there
    are no images, so a caller can try the levels alike.

    `low[i]`: the asker wants only a low-detail look at image i (OpenAI's `detail: "low"`, through the
    gateway); where the format has one, that is its only way, so it is neither priced nor sent larger."""
    ways = [image.ways(family) for image in images]
    for i, cheap in enumerate(low):
        if cheap:
            ways[i] = [way for way in ways[i] if way.detail == "low"] or ways[i]
    depth = max((len(w) for w in ways), default=1)
    return [tuple(w[min(level, len(w) - 1)] for w in ways) for level in range(depth)]
