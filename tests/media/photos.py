"""Photos and voice notes for the media tests: real encoded files made with Pillow and `wave`, and
messages that carry them as adapters hand them to the core."""

from __future__ import annotations

import io
import wave

from PIL import ExifTags, Image

from bot.incoming import Attachment, Incoming
from tests.doubles import message


def photo(width: int, height: int, kind: str = "JPEG") -> bytes:
    """An image of that size and format, with some detail in it (a gradient), as a camera would send."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def phone_photo(width: int, height: int, orientation: int = 1) -> bytes:
    """A camera JPEG as stored: `width`x`height` pixels, the stored top half red and the bottom half blue
    (so which way up it arrives can be told), with the EXIF orientation tag a phone writes when it was
    held turned (6: the picture is the stored one turned a quarter clockwise)."""
    image = Image.new("RGB", (width, height), "blue")
    image.paste(Image.new("RGB", (width, height // 2), "red"))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def voice(seconds: float, rate: int = 8000) -> bytes:
    """A WAV recording of that length (silence: the fake's transcript is scripted anyway)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


def with_photos(text: str, *images: bytes, user: str = "telegram:2", **kw: object) -> Incoming:
    attachments = tuple(Attachment("image", data, "image/jpeg", "photo.jpg") for data in images)
    return message(text, user=user, attachments=attachments, **kw)


def with_voice(text: str, data: bytes, user: str = "telegram:2", duration: float | None = None) -> Incoming:
    attachment = Attachment("audio", data, "audio/ogg", "voice.ogg", duration)
    return message(text, user=user, attachments=(attachment,))
