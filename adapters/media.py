"""What both chat adapters share about files that come with a message: the download limit and the one
line for a file that never reaches the core.

An adapter checks each file's declared size against `MAX_MEDIA_MB` before downloading anything, downloads
through its platform library (a Telegram file URL carries the bot token: only bytes leave the adapter),
and hands the core `Attachment`s. Whether an image is real, how many a message may carry and how long
audio may be are the core's checks (`bot.media`), made on the bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot.refusals import FileNotTaken
from bot.wording import refusal

MEGABYTE = 1024 * 1024  # Telegram's "20 MB" for bots is 20 MiB


def limit_bytes(max_media_mb: Decimal) -> int:
    """`MAX_MEDIA_MB` in bytes (whole bytes, rounded down: a limit is never exceeded by rounding)."""
    return int(max_media_mb * MEGABYTE)


def too_big(size: int | None, limit: int) -> bool:
    """Whether a declared size is over the limit; an unknown size is checked again on the bytes."""
    return size is not None and size > limit


def file_line(refused: FileNotTaken) -> str:
    """The one line for a file that was not taken."""
    return refusal(refused, datetime.now(UTC))
