"""What came with a message, checked before anything is priced: how many images (MAX_IMAGES), one audio
file of a format the transcription endpoints take and within MAX_AUDIO_SECONDS, each image a real one.
Any failure is one refusal, raised before a hold, so a bad file charges and stores nothing."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal

from bot.config import Settings
from bot.i18n import _, number
from bot.incoming import Attachment
from bot.media.audio import known_seconds
from bot.media.image_tokens import Family
from bot.media.images import BadImage, CheckedImage, check_image
from bot.refusals import AudioTooLong, BadAttachment, TooManyImages

MB = 1024 * 1024
# The containers OpenAI's /audio/transcriptions takes (and Groq's, and whisper servers'), by how their
# bytes start: the endpoint tells formats apart by the file name's extension, so one is given.
_AUDIO_MAGIC = (
    (b"OggS", "ogg"),
    (b"RIFF", "wav"),
    (b"fLaC", "flac"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
    (b"\x1a\x45\xdf\xa3", "webm"),
)


@dataclass(frozen=True)
class Media:
    images: tuple[CheckedImage, ...] = ()
    audio: Attachment | None = None


def check_attachments(
    settings: Settings, attachments: tuple[Attachment, ...], family: Family | None = None
) -> Media:
    """The attachments, checked; raises the refusal for the first thing wrong with them. `family`: how the
    model the images go to bills them, when known, so each is decoded once at the size it will be sent
    from (`check_image`)."""
    limit = int(settings.max_media_mb * MB)
    for attachment in attachments:
        if not attachment.data:
            raise BadAttachment(_("the file is empty"))
        if len(attachment.data) > limit:
            most = number(Decimal(settings.max_media_mb))
            raise BadAttachment(_("it is larger than {limit} MB").format(limit=most))
    images = [a for a in attachments if a.kind == "image"]
    sounds = [a for a in attachments if a.kind == "audio"]
    if len(images) > settings.max_images:
        raise TooManyImages(settings.max_images)
    if len(sounds) > 1:
        raise BadAttachment(_("send one voice note or audio file at a time"))
    audio = _checked_audio(settings, sounds[0]) if sounds else None
    try:
        checked = tuple(check_image(image.data, family) for image in images)
    except BadImage as bad:
        raise BadAttachment(bad.reason) from None
    return Media(checked, audio)


def _checked_audio(settings: Settings, audio: Attachment) -> Attachment:
    """The audio with a file name whose extension says its real format; refused when it is too long or of
    a format the endpoints don't take."""
    if not settings.max_audio_seconds:
        raise AudioTooLong(0, 0)
    extension = _audio_format(audio.data)
    if extension is None:
        raise BadAttachment(_("it is not audio I can transcribe (OGG, MP3, M4A, WAV, FLAC or WebM)"))
    seconds = known_seconds(audio)
    if seconds is not None and seconds > settings.max_audio_seconds:
        raise AudioTooLong(math.ceil(seconds), settings.max_audio_seconds)
    stem = (audio.name.rsplit(".", 1)[0] if audio.name else "") or "audio"
    return dataclasses.replace(audio, name=f"{stem}.{extension}")


def _audio_format(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":  # MP4/M4A
        return "m4a"
    if data[:4] == b"RIFF" and data[8:12] != b"WAVE":
        return None
    return next((extension for magic, extension in _AUDIO_MAGIC if data.startswith(magic)), None)
