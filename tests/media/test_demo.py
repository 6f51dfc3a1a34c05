"""The console demo's model takes photos and voice notes keyless: labelled stand-ins over the same paid
path (a transcription charge and an answer charge)."""

from __future__ import annotations

from pathlib import Path

from bot.core import open_core
from bot.providers.demo import DEMO_MODEL, demo_server, demo_spec
from tests.doubles import Clock, RecordingReply, message
from tests.harness import OWNER, check_invariants, settings_for
from tests.media.photos import photo, voice, with_photos, with_voice


async def test_the_demo_answers_a_photo_and_a_voice_note_with_labelled_stand_ins(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, default_model=DEMO_MODEL, transcription_model=DEMO_MODEL)
    async with (
        demo_server(word_delay=0) as url,
        open_core(settings, extra_specs=[demo_spec(url)], clock=Clock()) as core,
    ):
        seen = RecordingReply()
        await core.handle(with_photos("What is this?", photo(2000, 1000), user=OWNER), seen)
        assert seen.answers[0].startswith("[demo model, no LLM behind it] You sent an image")
        heard = RecordingReply()
        await core.handle(with_voice("", voice(2.0), user=OWNER), heard)
        assert heard.lines[0].startswith('🎤 "[demo transcript, no speech recognition behind it]')
        assert "[demo transcript" in heard.answers[0]
        await core.handle(message("/spend", user=OWNER), RecordingReply())
        await check_invariants(core.services.ledger)
        charges = await core.services.ledger.db.fetchall("SELECT model, cost FROM charges ORDER BY id")
    assert [row["model"] for row in charges] == [DEMO_MODEL] * 3  # the photo, the transcript, its answer
    assert all(int(row["cost"]) > 0 for row in charges)
