"""A voice note as a question: transcribed by TRANSCRIPTION_MODEL and paid like any answer, reserved
before the call from the audio's length and settled from the usage the endpoint reports.

The reserve is a bound: audio input at `AUDIO_TOKENS_PER_SECOND` (OpenAI bills about 17 a second for
gpt-4o-transcribe) and a transcript of at most `TRANSCRIPT_TOKENS_PER_SECOND` (fast speech is about 4),
or the owner's per-minute price. A transcription is all or nothing, so it can't be clamped: an allowance
that can't pay the bound is refused before the call. A report the bot can't price is charged the hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.incoming import Attachment
from bot.ledger import ChargeDetail
from bot.media.audio import seconds_bound
from bot.pricing import UnpricedModel
from bot.providers.base import ProviderError, TokenUsage
from bot.providers.registry import ProviderNotConfigured, UnknownModel
from bot.providers.transcription import AudioFile
from bot.refusals import ModelUnavailable, NoTranscription

if TYPE_CHECKING:
    from bot.commands.base import Services

log = logging.getLogger(__name__)

AUDIO_TOKENS_PER_SECOND = 25
TRANSCRIPT_TOKENS_PER_SECOND = 10
TRANSCRIPT_SLACK_TOKENS = 64  # a short note's transcript may still have a few words and punctuation
# The default transcription model, when TRANSCRIPTION_MODEL is unset and an OpenAI key is.
OPENAI_TRANSCRIPTION = "openai/gpt-4o-mini-transcribe"


@dataclass(frozen=True)
class Transcribed:
    text: str
    model_id: str
    charged: int  # nano-dollars


def transcription_model(services: Services) -> str:
    """TRANSCRIPTION_MODEL, else OpenAI's when an OpenAI key is set; `NoTranscription` otherwise."""
    settings = services.settings
    if settings.transcription_model:
        return settings.transcription_model
    if settings.secret("OPENAI_API_KEY"):
        return OPENAI_TRANSCRIPTION
    raise NoTranscription()


async def transcribe(services: Services, user: str, audio: Attachment) -> Transcribed:
    """The audio's text, charged to `user`: refusals (`NoTranscription`, the ledger's `CapReached`) before
    any call; `ModelUnavailable` (hold released, nothing charged) when the endpoint fails."""
    model_id = transcription_model(services)
    try:
        resolved, client = services.providers.transcriber(model_id)
    except (UnknownModel, ProviderNotConfigured) as missing:
        log.warning("TRANSCRIPTION_MODEL %s can't be used: %s", model_id, missing)
        raise NoTranscription() from None
    price_provider = resolved.spec.price_provider
    seconds = seconds_bound(audio, services.settings.max_audio_seconds)
    started = services.clock()
    try:
        quote = services.pricer.transcription_quote(
            resolved.id,
            price_provider,
            at=started,
            seconds=Decimal(seconds),
            audio_tokens=seconds * AUDIO_TOKENS_PER_SECOND,
            output_tokens=seconds * TRANSCRIPT_TOKENS_PER_SECOND + TRANSCRIPT_SLACK_TOKENS,
        )
    except UnpricedModel as unpriced:
        log.warning("TRANSCRIPTION_MODEL %s can't be used: %s", model_id, unpriced.reason)
        raise NoTranscription() from None
    hold = await services.ledger.reserve(user, quote)
    try:
        transcript = await client.transcribe(resolved.name, AudioFile(audio.data, audio.mime, audio.name))
    except ProviderError as error:
        await services.ledger.release_surely(hold)
        log.warning("%s failed to transcribe: %s", resolved.id, error)
        raise ModelUnavailable(resolved.id, error.kind) from None
    except BaseException:
        await services.ledger.release_surely(hold)
        raise
    usage, cost = transcript.usage, None
    if usage is not None:
        cost = services.pricer.transcription_cost(resolved.id, price_provider, usage, at=started)
    tokens = TokenUsage()
    if usage is not None:
        tokens = TokenUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
    if cost is None:
        log.warning("%s: a transcription without a usage it can price; charging the hold", resolved.id)
    detail = ChargeDetail(model=resolved.id, tokens=tokens, estimated=cost is None)
    cost = hold.amount if cost is None else cost
    charged = await services.ledger.settle_surely(hold, cost, detail)  # None: the retrier writes it
    return Transcribed(transcript.text, resolved.id, min(cost, hold.amount) if charged is None else charged)
