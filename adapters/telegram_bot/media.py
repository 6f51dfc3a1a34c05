"""Photos, images sent as files, voice notes and audio files on Telegram, downloaded for the core.

A photo arrives in several sizes: the smallest whose long side reaches `IMAGE_SIDE` is taken (no model
uses more), or the largest when none does. A document counts as an image when Telegram declares an
image/* type; any other document is a kind the bot can't read. Every declared size is checked against
`MAX_MEDIA_MB` before the first download, and again on getFile's answer and on the bytes, since a size
may be missing. Downloads go through PTB (`get_file` + `download_as_bytearray`): the file URL carries the
bot token, so it never leaves this module, and only bytes reach the core.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from telegram import Audio, Bot, Message, PhotoSize, Voice
from telegram.error import TelegramError
from telegram.warnings import PTBDeprecationWarning

from adapters.handoff import short
from adapters.media import limit_bytes, too_big
from bot.incoming import Attachment
from bot.refusals import FileNotTaken

log = logging.getLogger(__name__)

IMAGE_SIDE = 2048  # the largest side any provider's image formula keeps (OpenAI fits into 2048×2048)


@dataclass(frozen=True)
class Wanted:
    """One file a message carries, as Telegram declared it, before anything is downloaded."""

    kind: Literal["image", "audio"] | None  # None: a kind the bot can't read
    file_id: str
    mime: str
    name: str = ""
    size: int | None = None  # bytes, where Telegram says
    duration: float | None = None  # seconds, for audio


def best_photo(sizes: Sequence[PhotoSize]) -> PhotoSize:
    """The smallest size whose long side is at least `IMAGE_SIDE`, else the largest there is."""
    by_side = sorted(sizes, key=lambda s: (max(s.width, s.height), s.file_size or 0))
    return next((s for s in by_side if max(s.width, s.height) >= IMAGE_SIDE), by_side[-1])


def wanted(message: Message) -> list[Wanted]:
    """The files a message carries (empty for text): a photo, a document, a voice note, an audio file."""
    if message.photo:
        photo = best_photo(message.photo)
        return [Wanted("image", photo.file_id, "image/jpeg", size=photo.file_size)]  # Telegram re-encodes
    if message.document is not None:
        document = message.document
        mime = document.mime_type or ""
        kind: Literal["image"] | None = "image" if mime.startswith("image/") else None
        return [Wanted(kind, document.file_id, mime, document.file_name or "", document.file_size)]
    if message.voice is not None:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        return [Wanted("audio", voice.file_id, mime, "voice.ogg", voice.file_size, _seconds(voice))]
    if message.audio is not None:
        audio = message.audio
        mime = audio.mime_type or "audio/mpeg"
        name = audio.file_name or ""
        return [Wanted("audio", audio.file_id, mime, name, audio.file_size, _seconds(audio))]
    return []


def replied_images(message: Message) -> list[Wanted]:
    """The images of the message this one replies to: replying to a picture asks about it again, and the
    picture goes again (later questions see only "[image]" in its place). Audio is not sent again: its
    transcript is in the history already."""
    replied = message.reply_to_message
    return [file for file in wanted(replied) if file.kind == "image"] if replied is not None else []


def _seconds(media: Voice | Audio) -> float:
    """The duration, read as an int or a timedelta (PTB 22 gives either, by PTB_TIMEDELTA, and warns
    about the change on every read of the int)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        duration = media.duration
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


def carries_media(message: Message) -> bool:
    return bool(message.photo) or any(
        part is not None for part in (message.document, message.voice, message.audio)
    )


async def download(bot: Bot, files: Sequence[Wanted], max_media_mb: Decimal) -> tuple[Attachment, ...]:
    """The files as `Attachment`s, or `FileNotTaken` before any download when one can't be taken (a kind
    the bot can't read, a declared size over the limit), or when a download fails or exceeds the limit."""
    limit = limit_bytes(max_media_mb)
    for file in files:
        if file.kind is None:
            raise FileNotTaken("unsupported")
        if too_big(file.size, limit):
            raise FileNotTaken("too_big", max_media_mb)
    return tuple([await _fetch(bot, file, limit, max_media_mb) for file in files])


async def _fetch(bot: Bot, file: Wanted, limit: int, max_media_mb: Decimal) -> Attachment:
    assert file.kind is not None
    try:
        found = await bot.get_file(file.file_id)
        if too_big(found.file_size, limit):
            raise FileNotTaken("too_big", max_media_mb)
        data = bytes(await found.download_as_bytearray())
    except TelegramError as exc:  # getFile answers "file is too big" past Telegram's own 20 MB
        if "too big" in str(exc).lower():
            raise FileNotTaken("too_big", max_media_mb) from None
        log.warning("telegram: could not download a file: %s", short(exc))
        raise FileNotTaken("download_failed") from None
    if len(data) > limit:
        raise FileNotTaken("too_big", max_media_mb)
    return Attachment(file.kind, data, file.mime, file.name, file.duration)


def file_url_base(base_url: str) -> str:
    """PTB's `base_file_url` beside TELEGRAM_BASE_URL: Telegram and the local Bot API server serve files
    at `/file/bot<token>/<path>` next to `/bot<token>/<method>`."""
    head, found, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if found else base_url
