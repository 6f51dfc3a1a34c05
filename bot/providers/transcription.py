"""Speech to text through the OpenAI-compatible `POST {base}/audio/transcriptions` (OpenAI, Groq, Azure
deployments and local servers alike): multipart `file` and `model`, a JSON answer with the `text` and,
where the server says, what it used (`usage`: audio and text tokens, or the seconds it billed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp

from bot.providers.base import ProviderError
from bot.providers.http import Endpoint, error_from_response


@dataclass(frozen=True)
class AudioFile:
    """The audio to transcribe, as the adapter received it."""

    data: bytes
    mime: str
    name: str


@dataclass(frozen=True)
class AudioUsage:
    """What a transcription used, as reported: tokens (`gpt-4o-transcribe`: input includes the audio
    tokens) or the seconds billed (`whisper-1`); None where the server did not say."""

    input_tokens: int = 0
    audio_tokens: int = 0
    output_tokens: int = 0
    seconds: Decimal | None = None


@dataclass(frozen=True)
class Transcript:
    text: str
    usage: AudioUsage | None  # None: the server reported no usage


async def transcribe(endpoint: Endpoint, url: str, model: str, audio: AudioFile) -> Transcript:
    """One transcription; raises `ProviderError` (never a library's exception, never a key) on failure."""
    form = aiohttp.FormData()
    form.add_field("model", model)
    form.add_field("response_format", "json")
    form.add_field("file", audio.data, filename=audio.name or "audio", content_type=audio.mime)
    try:
        async with endpoint.session.post(url, data=form, headers=dict(endpoint.headers)) as response:
            if response.status != 200:
                raise await error_from_response(endpoint, response)
            body = json.loads(await response.text(), parse_float=Decimal)
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise ProviderError("timeout", "no response in time", provider=endpoint.provider) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProviderError("malformed", "the answer was not JSON", provider=endpoint.provider) from None
    except aiohttp.ClientError as exc:
        raise ProviderError("unavailable", type(exc).__name__, provider=endpoint.provider) from None
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        raise ProviderError("malformed", "the answer had no text", provider=endpoint.provider)
    return Transcript(body["text"].strip(), _usage(body.get("usage")))


def _usage(raw: Any) -> AudioUsage | None:
    """OpenAI's two shapes: `{"type": "tokens", "input_tokens", "input_token_details": {"audio_tokens"},
    "output_tokens"}` and `{"type": "duration", "seconds"}`; Groq and local servers may send neither."""
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "duration" or "seconds" in raw:
        try:
            seconds = Decimal(str(raw.get("seconds")))
        except InvalidOperation:
            return None
        return AudioUsage(seconds=seconds) if seconds.is_finite() and seconds >= 0 else None
    details = raw.get("input_token_details") or {}
    return AudioUsage(
        input_tokens=int(raw.get("input_tokens") or 0),
        audio_tokens=int(details.get("audio_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
    )
