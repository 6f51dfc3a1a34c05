"""Photos, image files, voice notes and audio files through the real python-telegram-bot Application and
the fake Bot API: what reaches the core (a recording stand-in), what was downloaded, and the one line
for a file that can't be taken. The end-to-end answers live with the core's media tests."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from telegram import PhotoSize

from adapters.telegram_bot.media import best_photo, file_url_base
from bot.config import Settings
from bot.incoming import Attachment, Incoming
from tests.doubles import TrackingCore
from tests.fakes import telegram_api as tg
from tests.fakes.media_files import (
    FAILED,
    TOO_BIG,
    UNSUPPORTED,
    album_updates,
    count_files,
    image,
    photo_update,
    send_photo,
    send_voice,
    voice_bytes,
)
from tests.fakes.telegram_api import BOT_USERNAME, GROUP_ID, TOKEN, FakeTelegram
from tests.fakes.telegram_fixtures import ScriptedCore, running_bot

ALICE = tg.user(31, "Alice", "alice")


def recording() -> TrackingCore:
    return TrackingCore(ScriptedCore(count_files))


def small_limit(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_media_mb": Decimal(1)})


def assert_no_token(incoming: Incoming) -> None:
    secret = TOKEN.split(":", 1)[1]
    assert secret not in repr(incoming)
    assert all(secret.encode() not in a.data for a in incoming.attachments)


async def test_a_photo_reaches_the_core_as_the_smallest_size_the_model_needs(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    async with running_bot(core, telegram_settings):
        stored = await send_photo(fake_telegram, ALICE, "what breed is this?")
        (seen,) = await core.wait_handled(1)
    taken = stored[-1]  # 2560×1920: the only size whose long side reaches 2048
    assert seen.text == "what breed is this?" and seen.direct and seen.private
    assert seen.attachments == (Attachment("image", taken.data, "image/jpeg"),)
    assert fake_telegram.files.downloads == [taken.file_id]  # the other sizes were never fetched
    assert [c.params["file_id"] for c in fake_telegram.calls_to("getFile")] == [taken.file_id]
    assert fake_telegram.shown(31) == ["got 1 file(s)"]
    assert_no_token(seen)


async def test_a_photo_alone_is_asked_with_an_empty_question(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    async with running_bot(core, telegram_settings):
        stored = await send_photo(fake_telegram, ALICE, sizes=((320, 240), (1280, 960)))
        (seen,) = await core.wait_handled(1)
    assert seen.text == ""  # the core asks "describe this"
    assert seen.attachments[0].data == stored[-1].data  # none reaches 2048: the largest there is


def test_best_photo_is_the_smallest_at_least_2048_or_the_largest() -> None:
    def size(width: int, height: int) -> PhotoSize:
        return PhotoSize(f"id-{width}", f"u-{width}", width, height)

    assert best_photo([size(90, 60), size(1280, 960), size(2048, 1536), size(4096, 3072)]).width == 2048
    assert best_photo([size(960, 1280), size(1920, 2560)]).width == 1920  # portrait: the long side counts
    assert best_photo([size(800, 600), size(90, 60)]).width == 800


def test_files_are_served_beside_the_bot_api() -> None:
    assert file_url_base("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_base("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


async def test_an_image_file_a_voice_note_and_an_audio_file(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    png = fake_telegram.files.add(image(640, 480, "PNG"), folder="documents", suffix="png")
    song = fake_telegram.files.add(voice_bytes(2), folder="music", suffix="mp3")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(
            tg.private_media(ALICE, "read the chart", document=tg.document(png, "image/png", "chart.png"))
        )
        await core.wait_handled(1)
        voice = await send_voice(fake_telegram, ALICE, 7)
        await core.wait_handled(2)
        await fake_telegram.push(
            tg.private_media(ALICE, "lyrics?", audio=tg.audio(song, 61, "audio/mpeg", "a.mp3"))
        )
        first, second, third = await core.wait_handled(3)
    assert (first.text, first.attachments) == (
        "read the chart",
        (Attachment("image", png.data, "image/png", "chart.png"),),
    )
    assert (second.text, second.attachments) == (
        "",
        (Attachment("audio", voice.data, "audio/ogg", "voice.ogg", 7.0),),
    )
    assert (third.text, third.attachments) == (
        "lyrics?",
        (Attachment("audio", song.data, "audio/mpeg", "a.mp3", 61.0),),
    )
    for seen in (first, second, third):
        assert_no_token(seen)


async def test_a_file_over_the_limit_is_one_line_and_never_downloaded(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    big = fake_telegram.files.add(image(64, 64), size=1024 * 1024 + 1)  # as Telegram declares it
    unsized = fake_telegram.files.add(image(64, 64), size=2 * 1024 * 1024)
    no_size = tg.photo((unsized, 2560, 1920))
    del no_size[0]["file_size"]  # the message does not say; getFile does
    async with running_bot(core, small_limit(telegram_settings)):
        await fake_telegram.push(tg.private_media(ALICE, "this?", photo=tg.photo((big, 2560, 1920))))
        await fake_telegram.wait_for(lambda: len(fake_telegram.shown(31)) == 1, "a line about the size")
        await fake_telegram.push(tg.private_media(ALICE, "and this?", photo=no_size))
        await fake_telegram.wait_for(lambda: len(fake_telegram.shown(31)) == 2, "a second line")
    assert fake_telegram.shown(31) == [TOO_BIG, TOO_BIG]
    assert fake_telegram.files.downloads == []
    assert [c.params["file_id"] for c in fake_telegram.calls_to("getFile")] == [unsized.file_id]
    assert core.started == []


async def test_a_failed_download_is_one_line_and_nothing_reaches_the_core(
    fake_telegram: FakeTelegram, telegram_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    core = recording()
    made, stored = photo_update(fake_telegram, ALICE, "what is it?")
    fake_telegram.files.fail_download(stored[-1])
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(made)
        await fake_telegram.wait_for(lambda: bool(fake_telegram.shown(31)), "a line about the download")
        await send_photo(fake_telegram, ALICE, "again")  # the next one is answered as usual
        (seen,) = await core.wait_handled(1)
    assert fake_telegram.shown(31) == [FAILED, "got 1 file(s)"]
    assert seen.text == "again" and len(core.started) == 1
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "adapters.telegram_bot.media"]
    assert "could not download a file" in logged
    assert TOKEN.split(":", 1)[1] not in logged  # the file URL carries it (libraries' logs: bot.redact)


async def test_a_file_of_another_kind_is_one_line(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    pdf = fake_telegram.files.add(b"%PDF-1.7", folder="documents", suffix="pdf")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(
            tg.private_media(ALICE, "summarise", document=tg.document(pdf, "application/pdf", "a.pdf"))
        )
        await fake_telegram.wait_for(lambda: bool(fake_telegram.shown(31)), "a line about the file")
    assert fake_telegram.shown(31) == [UNSUPPORTED]
    assert fake_telegram.files.downloads == [] and core.started == []


async def test_in_a_group_a_photo_is_answered_only_when_addressed(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    async with running_bot(core, telegram_settings):
        await send_photo(fake_telegram, ALICE, "look at my cat", group=True)  # chatter: never downloaded
        await send_photo(fake_telegram, ALICE, f"@{BOT_USERNAME} what breed?", group=True)
        (mention,) = await core.wait_handled(1)
        answer = fake_telegram.chat_messages(GROUP_ID)[0]
        await send_voice(fake_telegram, ALICE, 4, group=True, reply_to=answer)
        _, replied = await core.wait_handled(2)
    assert (mention.text, mention.direct, mention.private) == ("what breed?", True, False)
    assert replied.text == "" and replied.attachments[0].kind == "audio"
    assert replied.attachments[0].duration == 4.0
    assert len(fake_telegram.files.downloads) == 2  # the chatter's photo was never fetched


async def test_an_album_is_one_question_with_every_photo(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    parts, stored = album_updates(fake_telegram, ALICE, ("which is sharpest?", "", ""))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(*parts)
        (seen,) = await core.wait_handled(1)
        await send_photo(fake_telegram, ALICE, "and this one?")  # after the album: a question of its own
        await core.wait_handled(2)
    assert seen.text == "which is sharpest?"
    assert [a.data for a in seen.attachments] == [file.data for file in stored]
    assert len(core.started) == 2 and fake_telegram.shown(31) == ["got 3 file(s)", "got 1 file(s)"]


async def test_an_album_in_a_group_is_taken_by_its_mention_with_the_other_captions(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = recording()
    captions = (f"@{BOT_USERNAME} spot the difference", "left", "right")
    parts, stored = album_updates(fake_telegram, ALICE, captions, group=True)
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(*parts)
        (seen,) = await core.wait_handled(1)
    assert seen.text == "spot the difference\nleft\nright"
    assert len(seen.attachments) == 3 and seen.attachments[2].data == stored[2].data
    assert fake_telegram.shown(GROUP_ID) == ["got 3 file(s)"]


async def test_an_album_answered_before_a_crash_is_not_answered_again(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    inner = ScriptedCore(count_files)
    core = TrackingCore(inner)
    parts, _ = album_updates(fake_telegram, ALICE, ("first", "", ""))
    inner.claimed.append(f"telegram:{tg.BOT_ID}:{parts[0]['update_id']}")  # its leader was answered
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(*parts)
        await send_photo(fake_telegram, ALICE, "new")
        (seen,) = await core.wait_handled(1)
    assert seen.text == "new" and len(core.started) == 1  # no later part of the album answered it
