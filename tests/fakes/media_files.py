"""Files people send, for the adapter tests and the end-to-end media tests: real images made with
Pillow, stand-in audio, and one-call helpers that put a photo, an image file, a voice note or an audio
file into the fake Telegram (the Discord fake takes attachments in `FakeDiscord.message`)."""

from __future__ import annotations

import io
import itertools
from decimal import Decimal
from typing import Any

from PIL import Image

from adapters.media import file_line
from bot.incoming import Incoming, Reply
from bot.refusals import FileNotTaken
from tests.fakes import telegram_api as tg
from tests.fakes.telegram_api import FakeTelegram, StoredFile

# The lines for a file that is not taken (with MAX_MEDIA_MB=1 for the first)
TOO_BIG = file_line(FileNotTaken("too_big", Decimal(1)))
FAILED = file_line(FileNotTaken("download_failed"))
UNSUPPORTED = file_line(FileNotTaken("unsupported"))


async def count_files(incoming: Incoming, reply: Reply) -> None:
    """A stand-in core's script: say how many files came (the test reads the rest off what it recorded)."""
    await reply.text(f"got {len(incoming.attachments)} file(s)")


# Telegram's sizes of one photo whose original is 2560×1920: the bot takes 2560 (the smallest ≥ 2048)
PHOTO_SIZES = ((90, 68), (320, 240), (1280, 960), (2560, 1920))


def image(width: int, height: int, kind: str = "JPEG", color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real image of that size (one colour: small however large)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, kind)
    return out.getvalue()


def voice_bytes(seconds: int = 3) -> bytes:
    """Stand-in Opus-in-Ogg bytes (the Ogg signature and some body; no decoder reads them here)."""
    return b"OggS\x00\x02" + bytes(range(256)) * (4 * seconds)


def photo_update(
    fake: FakeTelegram,
    sender: dict[str, Any],
    caption: str = "",
    *,
    sizes: tuple[tuple[int, int], ...] = PHOTO_SIZES,
    group: bool = False,
    **options: Any,
) -> tuple[dict[str, Any], list[StoredFile]]:
    """A photo message (each size a file of its own in the fake) and the stored files, smallest first."""
    stored = [fake.files.add(image(w, h)) for w, h in sizes]
    sent = tg.photo(*((f, w, h) for f, (w, h) in zip(stored, sizes, strict=True)))
    make = tg.group_media if group else tg.private_media
    return make(sender, caption, photo=sent, **options), stored


async def send_photo(
    fake: FakeTelegram, sender: dict[str, Any], caption: str = "", **options: Any
) -> list[StoredFile]:
    """Push a photo (see `photo_update`); returns its stored sizes, smallest first."""
    made, stored = photo_update(fake, sender, caption, **options)
    await fake.push(made)
    return stored


async def send_voice(
    fake: FakeTelegram, sender: dict[str, Any], seconds: int = 3, *, group: bool = False, **options: Any
) -> StoredFile:
    """Push a voice note of `seconds` (Telegram's duration); returns its stored file."""
    stored = fake.files.add(voice_bytes(seconds), folder="voice", suffix="oga")
    make = tg.group_media if group else tg.private_media
    await fake.push(make(sender, voice=tg.voice(stored, seconds), **options))
    return stored


_albums = itertools.count(13_000_000_000_000_000)


def album_updates(
    fake: FakeTelegram,
    sender: dict[str, Any],
    captions: tuple[str, ...],
    *,
    group: bool = False,
    **options: Any,
) -> tuple[list[dict[str, Any]], list[StoredFile]]:
    """An album: one photo message per caption ("" for none), sharing a media_group_id, as Telegram sends
    them (push them together); and each photo's stored file (one 1280×960 size each)."""
    media_group_id = str(next(_albums))
    stored = [fake.files.add(image(1280, 960, color=(n * 40 % 256, 90, 90))) for n in range(len(captions))]
    make = tg.group_media if group else tg.private_media
    updates = [
        make(sender, caption, photo=tg.photo((file, 1280, 960)), media_group_id=media_group_id, **options)
        for file, caption in zip(stored, captions, strict=True)
    ]
    return updates, stored
