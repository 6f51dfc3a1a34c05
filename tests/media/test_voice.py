"""Voice notes through the whole core: transcribed by TRANSCRIPTION_MODEL at the fake's
`/audio/transcriptions`, the transcript shown and answered, both calls charged (the transcription from the
usage it reported: audio tokens at genai-prices' audio rate, or seconds at the owner's per-minute price);
bad or too long audio is one line and no charge."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.money import usd_to_nanos
from tests.doubles import RecordingReply, message
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_openai import Transcription
from tests.harness import harness, spy_reserves
from tests.media.billing import genai_cost
from tests.media.photos import photo, voice, with_photos, with_voice
from tests.providers.wiring import BOB, MODELS, env, settled

HEARD = "What is the weather like in Lima?"


async def test_a_voice_note_is_transcribed_shown_answered_and_both_calls_charged(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", voice(4.0)), reply)
        (received,) = openai.audio
        assert received.model == "gpt-4o-mini-transcribe"  # the default with an OpenAI key
        assert received.path == "/v1/audio/transcriptions" and received.filename == "voice.wav"
        assert received.headers["authorization"] == "Bearer " + env(fakes)["openai_api_key"]
        assert received.data == voice(4.0)
        assert reply.lines[0] == f'🎤 "{HEARD}"' and len(reply.answers) == 1
        asked = openai.requests[-1].body["messages"][-1]["content"]
        assert asked == HEARD
        transcription, answer = await settled(h)
    assert transcription["model"] == "openai/gpt-4o-mini-transcribe"
    expected = genai_cost("openai", "openai/gpt-4o-mini-transcribe", 180, 12, audio_tokens=180)
    assert transcription["cost"] == expected > 0
    assert transcription["input_tokens"] == 180 and transcription["output_tokens"] == 12
    assert answer["model"] == "openai/gpt-4o-mini" and answer["cost"] > 0


async def test_a_caption_and_the_transcript_are_asked_together_and_kept_in_history(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        await h.core.handle(with_voice("Answer briefly.", voice(2.0)), RecordingReply())
        await h.core.handle(message("And tomorrow?", user=BOB), RecordingReply())
        follow_up = openai.requests[-1].body["messages"]
        assert follow_up[-3]["content"] == f"Answer briefly.\n\n{HEARD}"
        assert len(openai.audio) == 1 and len(await settled(h)) == 3


async def test_a_per_minute_price_in_the_price_file_charges_the_seconds_reported(
    tmp_path: Path, fakes: Fakes
) -> None:
    """Whisper on Groq bills by the minute; the owner's price file says how much."""
    openai = fakes[0]
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."groq/whisper-large-v3"]\naudio_minute = "0.00185"\n')
    openai.transcription = Transcription(usage={"type": "duration", "seconds": 9})
    settings = env(fakes, groq_api_key="gsk_fake0123456789", groq_base_url=openai.url)
    settings |= {"transcription_model": "groq/whisper-large-v3", "prices_file": prices}
    async with harness(tmp_path, **settings) as h:
        await h.core.handle(with_voice("", voice(9.0)), RecordingReply())
        assert openai.audio[0].model == "whisper-large-v3"
        transcription, _ = await settled(h)
    assert transcription["cost"] == usd_to_nanos(Decimal(9) / 60 * Decimal("0.00185"))
    assert transcription["estimated"] == 0


async def test_audio_longer_than_max_audio_seconds_is_one_line_and_no_charge(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, max_audio_seconds=60, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", b"OggS" + bytes(2000), duration=61.2), reply)
        assert reply.lines == ["That audio is 62 s long; I take up to 60 s. Nothing was charged."]
        assert openai.audio == [] and openai.requests == [] and await settled(h) == []


async def test_a_file_that_is_not_audio_is_one_line_and_no_charge(tmp_path: Path, fakes: Fakes) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", photo(100, 100)), reply)
        assert len(reply.lines) == 1 and "not audio I can transcribe" in reply.last
        assert openai.audio == [] and await settled(h) == []


async def test_a_failed_transcription_releases_its_hold(tmp_path: Path, fakes: Fakes) -> None:
    openai = fakes[0]
    openai.transcription = Transcription(status=500)
    async with harness(tmp_path, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", voice(3.0)), reply)
        assert len(reply.lines) == 1 and "not charged" in reply.last and not reply.answers
        assert len(openai.audio) == 1 and openai.requests == [] and await settled(h) == []


async def test_without_a_transcription_model_a_voice_note_is_one_line(tmp_path: Path, fakes: Fakes) -> None:
    settings = env(fakes, MODELS["anthropic"])
    del settings["openai_api_key"]
    async with harness(tmp_path, **settings) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", voice(3.0)), reply)
        assert len(reply.lines) == 1 and "transcribe" in reply.last
        assert await settled(h) == []


async def test_an_allowance_that_cant_pay_the_transcription_is_refused_before_the_call(
    tmp_path: Path, fakes: Fakes
) -> None:
    """300 s of audio may be 7,500 audio tokens and 3,064 of transcript: about $0.038 at most."""
    openai = fakes[0]
    async with harness(tmp_path, default_cap_usd=Decimal("0.01"), **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_voice("", voice(300.0, rate=100)), reply)
        assert len(reply.lines) == 1 and "left" in reply.last.lower()
        assert openai.audio == [] and await settled(h) == []


async def test_a_photo_and_a_voice_note_together(tmp_path: Path, fakes: Fakes) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        incoming = with_photos("", photo(300, 300))
        audio = with_voice("", voice(2.0)).attachments
        reply = RecordingReply()
        await h.core.handle(message("", user=BOB, attachments=incoming.attachments + audio), reply)
        content = openai.requests[-1].body["messages"][-1]["content"]
        assert content[0] == {"type": "text", "text": HEARD} and content[1]["type"] == "image_url"
        assert len(await settled(h)) == 2


async def test_the_hold_comes_from_the_duration_or_a_bound_from_the_size(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10 s voice note is held as 250 audio tokens and 164 of transcript; one of unknown length as long
    as its bytes could play at 6 kbit/s (7,500 bytes: 10 s), and never longer than MAX_AUDIO_SECONDS."""
    expected = genai_cost("openai", "openai/gpt-4o-mini-transcribe", 250, 164, audio_tokens=250)
    async with harness(tmp_path, max_audio_seconds=8, **env(fakes)) as h:
        granted = spy_reserves(h, monkeypatch)
        await h.core.handle(with_voice("", b"OggS" + bytes(7496)), RecordingReply())
        capped = granted[0].quote.input_nanos
    async with harness(tmp_path / "b", **env(fakes)) as h:
        granted = spy_reserves(h, monkeypatch)
        await h.core.handle(with_voice("", b"OggS" + bytes(7496)), RecordingReply())
        by_size = granted[0].quote.input_nanos
        await h.core.handle(with_voice("", b"OggS" + bytes(100), duration=10.0), RecordingReply())
        by_duration = granted[2].quote.input_nanos
    assert by_size == by_duration == expected
    assert capped < by_size  # 8 s at most


async def test_an_azure_deployment_transcribes_at_its_own_url_with_its_key(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, transcription_model="azure/gpt-4o-mini-transcribe", **env(fakes)) as h:
        await h.core.handle(with_voice("", voice(2.0)), RecordingReply())
        (received,) = openai.audio
        assert received.path == "/openai/deployments/gpt-4o-mini-transcribe/audio/transcriptions"
        assert received.headers["api-key"] == env(fakes)["azure_openai_api_key"]
        assert "authorization" not in received.headers
        transcription, _ = await settled(h)
    assert transcription["model"] == "azure/gpt-4o-mini-transcribe" and transcription["cost"] > 0
