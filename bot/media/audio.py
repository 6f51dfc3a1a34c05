"""How long a piece of audio is, for the reserve before transcribing it: the platform's word where it gave
one, a WAV file's own header, else a bound from its size (no speech codec goes below 6 kbit/s, so a file
can't play longer than its bytes at that rate), never more than MAX_AUDIO_SECONDS' worth."""

from __future__ import annotations

import io
import math
import wave

from bot.incoming import Attachment

# Opus (Telegram's voice notes), MP3, AAC: none is used below 6 kbit/s, i.e. 750 bytes a second.
LOWEST_BYTES_PER_SECOND = 750


def known_seconds(audio: Attachment) -> float | None:
    """The duration the platform reported, or a WAV file states; None when only a bound can be had."""
    if audio.duration is not None and audio.duration >= 0:
        return audio.duration
    try:
        with wave.open(io.BytesIO(audio.data)) as wav:
            return float(wav.getnframes() / wav.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


def seconds_bound(audio: Attachment, limit: int) -> int:
    """The longest the audio can play, in whole seconds, for the reserve: the known duration, else what
    its size allows at the lowest bitrate, and never more than `limit` (MAX_AUDIO_SECONDS)."""
    known = known_seconds(audio)
    if known is not None:
        return max(math.ceil(known), 1)
    return max(min(math.ceil(len(audio.data) / LOWEST_BYTES_PER_SECOND), limit), 1)
