"""Image and audio attachments on Discord (voice messages included), downloaded for the core.

Each attachment's declared size is checked against `MAX_MEDIA_MB` before the first download, and every
attachment must be an image or audio, or none is read: a message is answered with all its files or not
at all. `Attachment.read()` fetches from Discord's CDN through discord.py's own session. A message's
attachments and a slash command's attachment option (resolved by discord.py from the interaction) are
the same `discord.Attachment`, checked and read alike.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import aiohttp
import discord

from adapters.handoff import short
from adapters.media import limit_bytes, too_big
from bot.incoming import Attachment
from bot.refusals import FileNotTaken

log = logging.getLogger("adapters.discord_bot")


def mime_of(attachment: discord.Attachment) -> str:
    """The declared type without parameters ("audio/ogg; codecs=opus" → "audio/ogg"), else the name's."""
    declared = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    return declared or mimetypes.guess_type(attachment.filename)[0] or ""


def kind_of(attachment: discord.Attachment) -> Literal["image", "audio"] | None:
    if attachment.is_voice_message():
        return "audio"
    mime = mime_of(attachment)
    if mime.startswith("image/"):
        return "image"
    return "audio" if mime.startswith("audio/") else None


def replied_images(message: discord.Message) -> list[discord.Attachment]:
    """The images of the message this one replies to (when Discord sent it along): replying to a picture
    asks about it again, and the picture goes again (later questions see only "[image]" in its place).
    Audio is not sent again: its transcript is in the history already."""
    replied = message.reference.resolved if message.reference is not None else None
    if not isinstance(replied, discord.Message):
        return []
    return [attachment for attachment in replied.attachments if kind_of(attachment) == "image"]


async def download(
    attachments: Sequence[discord.Attachment], max_media_mb: Decimal
) -> tuple[Attachment, ...]:
    """The attachments as `Attachment`s, or `FileNotTaken` (before any download for a kind the bot
    can't read or a declared size over the limit)."""
    check(attachments, max_media_mb)
    limit = limit_bytes(max_media_mb)
    return tuple([await _fetch(attachment, limit, max_media_mb) for attachment in attachments])


def check(attachments: Sequence[discord.Attachment], max_media_mb: Decimal) -> None:
    """`FileNotTaken` for the first attachment of a kind the bot can't read or declared over the limit:
    what Discord says of a file, known without reading a byte of it (quick enough to answer a slash
    command before its three seconds are up)."""
    limit = limit_bytes(max_media_mb)
    for attachment in attachments:
        if kind_of(attachment) is None:
            raise FileNotTaken("unsupported")
        if too_big(attachment.size, limit):
            raise FileNotTaken("too_big", max_media_mb)


async def _fetch(attachment: discord.Attachment, limit: int, max_media_mb: Decimal) -> Attachment:
    kind = kind_of(attachment)
    assert kind is not None
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("discord: could not download an attachment: %s", short(exc))
        raise FileNotTaken("download_failed") from None
    if len(data) > limit:
        raise FileNotTaken("too_big", max_media_mb)
    mime = mime_of(attachment) or ("audio/ogg" if kind == "audio" else "")
    return Attachment(kind, data, mime, attachment.filename, attachment.duration)
