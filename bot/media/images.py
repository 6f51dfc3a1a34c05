"""Images as they are sent: the bytes checked to be a real image of a format every wire format takes
(whatever the platform declared), and scaled down with Pillow to the size the model would look at, or to
a smaller one the allowance can pay (`bot.media.image_tokens.sizings`).

Decoding is most of the CPU a photo costs, so an image is decoded once per request, no larger than needed:
a JPEG's decoder scales by 1/2, 1/4 or 1/8 as it decodes (DCT scaling, `Image.draft`), so a 4032x3024
phone photo bound for 1024x768 is decoded at 2016x1512 and only that is resampled. The check's decode (at
the size the model needs, when the caller knows the model) is kept for the sizing (`Decoded`), and every
smaller size tried is resampled from that one copy. Sizes are upright (EXIF orientation applied), so the
size priced is the size of the pixels sent."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from bot.i18n import _
from bot.media.image_tokens import Family, Sizing, sizings
from bot.providers.base import ImagePart

# What OpenAI, Anthropic and Gemini all take, by Pillow's format names.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
# Formats that are one of those with more inside: many phones' JPEGs are MPO, a JPEG followed by further
# images (an HDR gain map, a depth map). Their first image is sent, re-encoded, never the whole file.
CARRIERS = {"MPO": "JPEG"}
# More pixels than any camera photo: a larger image is more likely a decompression bomb than a question.
MAX_PIXELS = 64_000_000
JPEG_QUALITY = 85
# EXIF orientations whose upright picture is the stored one turned a quarter: width and height swap.
QUARTER_TURNS = frozenset({5, 6, 7, 8})
# Pillow's `reducing_gap`: a downscale by 3x or more first reduces by whole factors (box averaging), then
# resamples the rest with Lanczos; the Pillow docs call 3 indistinguishable from resampling all of it.
REDUCING_GAP = 3.0


class BadImage(ValueError):
    """Not an image we can send: corrupt, of another format, or absurdly large (`reason` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Decoded:
    """One decoded copy of an image (upright, RGB or RGBA), kept between the check and the sizing of one
    request so neither decodes it again; `release` drops it once the request's images are made (a copy
    of a phone photo is megabytes, and an answer can stream for a minute)."""

    __slots__ = ("image",)

    def __init__(self) -> None:
        self.image: Image.Image | None = None

    def release(self) -> None:
        self.image = None


@dataclass(frozen=True)
class CheckedImage:
    """An image that decoded: its bytes, real format, upright size and EXIF orientation (1: as stored)."""

    data: bytes
    mime: str
    width: int
    height: int
    orientation: int = 1
    decoded: Decoded = field(default_factory=Decoded, compare=False, repr=False)
    carrier: bool = False  # more than the image itself in the file (an MPO): never sent as it came

    def ways(self, family: Family) -> list[Sizing]:
        """How it can be sent to a model of `family`, dearest first."""
        return sizings(family, self.width, self.height)

    def goes_as_it_came(self, sizing: Sizing) -> bool:
        """Whether `sizing` sends the original bytes: its own size, upright as stored, in a format the
        model's API takes (a GIF goes as its first frame, re-encoded)."""
        own = (sizing.width, sizing.height) == (self.width, self.height)
        as_stored = self.orientation == 1 and not self.carrier
        return own and as_stored and self.mime in sizing.formats and self.mime != "image/gif"

    def part(self, sizing: Sizing) -> ImagePart:
        """The image at `sizing`: the original bytes when it goes as it came, else scaled down (or
        re-encoded) as a JPEG, or a PNG when it has transparency: every API takes those two. Exactly
        `sizing`'s size either way, so what the quote priced is what is sent."""
        if self.goes_as_it_came(sizing):
            return ImagePart(self.data, self.mime, sizing.tokens, sizing.detail)
        size = (sizing.width, sizing.height)
        source = self._decoded_at_least(size)
        smaller = (
            source
            if source.size == size
            else source.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        )
        out = io.BytesIO()
        if smaller.mode == "RGBA":
            smaller.save(out, "PNG", optimize=True)
            return ImagePart(out.getvalue(), "image/png", sizing.tokens, sizing.detail)
        smaller.save(out, "JPEG", quality=JPEG_QUALITY)
        return ImagePart(out.getvalue(), "image/jpeg", sizing.tokens, sizing.detail)

    def _decoded_at_least(self, size: tuple[int, int]) -> Image.Image:
        """The kept decode when it is at least `size`, else a new one at the smallest scale that is (kept
        in its place: the larger sizes of a request come first, the smaller ones reuse it)."""
        kept = self.decoded.image
        if kept is None or kept.width < size[0] or kept.height < size[1]:
            with Image.open(io.BytesIO(self.data)) as image:
                kept = _decode(image, self.orientation, size)
            self.decoded.image = kept
        return kept


def check_image(data: bytes, family: Family | None = None) -> CheckedImage:
    """The image in `data`, decoded so a truncated or corrupt file is found now, not by the provider after
    the hold; raises `BadImage`.

    Every byte of the file is decoded (a JPEG's decoder reads all its coded data whatever the scale, so a
    file it can't finish is refused as a full decode would), but a JPEG only at the scale `family` (the
    model's) needs at most, or 1/8 when that is not known yet; the decode is kept for `part` when it will
    be used."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                carrier = image.format in CARRIERS
                kind = CARRIERS.get(image.format or "", image.format or "")
                if kind not in FORMATS:
                    raise BadImage(
                        _("{kind} images can't be sent; use JPEG, PNG, WebP or GIF").format(kind=kind)
                        if kind
                        else _("this kind of image can't be sent; use JPEG, PNG, WebP or GIF")
                    )
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise BadImage(_("the image has too many pixels"))
                orientation = _orientation(image)
                if orientation in QUARTER_TURNS:
                    width, height = height, width
                checked = CheckedImage(data, FORMATS[kind], width, height, orientation, carrier=carrier)
                dearest = checked.ways(family)[0] if family else None
                needed = (dearest.width, dearest.height) if dearest else (1, 1)
                decoded = _decode(image, orientation, needed)
        except BadImage:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise BadImage(_("the image has too many pixels")) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise BadImage(_("the file is not an image, or it is damaged")) from None
    if dearest is not None and not checked.goes_as_it_came(dearest):  # it will be scaled from this copy
        checked.decoded.image = decoded
    return checked


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8; 1, as stored, when absent or not one of those)."""
    value = image.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode(image: ImageFile.ImageFile, orientation: int, size: tuple[int, int]) -> Image.Image:
    """`image` decoded, at least `size` (upright) and as little larger as a JPEG's DCT scaling allows,
    then turned upright and made RGB, or RGBA when it has transparency."""
    image.seek(0)  # an animated GIF: its first frame
    if image.format in ("JPEG", *CARRIERS):
        width, height = size[::-1] if orientation in QUARTER_TURNS else size
        image.draft("RGB", (max(width, 1), max(height, 1)))
    image.load()
    upright = ImageOps.exif_transpose(image) if orientation != 1 else image
    mode = "RGBA" if _has_alpha(upright) else "RGB"
    return upright if upright.mode == mode else upright.convert(mode)  # leaving `with` keeps the pixels


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
