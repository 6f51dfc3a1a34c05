"""Image and audio attachments through the real discord.py client and the fake Discord: what reaches the
core (a recording stand-in), what was downloaded from the fake's CDN, and the one line for a file that
can't be taken. The end-to-end answers live with the core's media tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.config import Settings
from bot.incoming import Attachment
from tests.doubles import TrackingCore
from tests.fakes.discord_api import APP_ID, TOKEN, FakeDiscord
from tests.fakes.discord_fixtures import ScriptedCore, running_bot
from tests.fakes.media_files import FAILED, TOO_BIG, UNSUPPORTED, count_files, image, voice_bytes

DM_CHANNEL = 940_000_000_000_000_002


def recording() -> TrackingCore:
    return TrackingCore(ScriptedCore(count_files))


async def send_dm(fake: FakeDiscord, text: str, *attachments: dict[str, Any]) -> None:
    """Kim sends the bot a DM with these attachments (`fake.attachment(...)`)."""
    kim = fake.user(19, "kim")
    await fake.dispatch(
        "MESSAGE_CREATE", fake.message(kim, text, channel=DM_CHANNEL, attachments=list(attachments))
    )


async def test_images_and_a_voice_message_reach_the_core_as_bytes(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    photo, chart = image(1024, 768), image(300, 200, "PNG")
    sound = voice_bytes(5)
    async with running_bot(core, discord_settings, fake_discord):
        await send_dm(
            fake_discord,
            "compare these",
            fake_discord.attachment(photo, "cat.jpg", "image/jpeg"),
            fake_discord.attachment(chart, "chart.png", None),  # no declared type: the name's
        )
        await send_dm(
            fake_discord,
            "",
            fake_discord.attachment(sound, "voice-message.ogg", "audio/ogg", voice_seconds=5.2),
        )
        first, second = await core.wait_handled(2)
    assert first.text == "compare these" and first.private
    assert first.attachments == (
        Attachment("image", photo, "image/jpeg", "cat.jpg"),
        Attachment("image", chart, "image/png", "chart.png"),
    )
    assert second.text == ""  # a voice message alone: the audio is the question
    assert second.attachments == (Attachment("audio", sound, "audio/ogg", "voice-message.ogg", 5.2),)
    assert len(fake_discord.downloads) == 3
    for seen in (first, second):
        assert TOKEN not in repr(seen)


async def test_a_mention_with_an_image_in_a_channel(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    async with running_bot(core, discord_settings, fake_discord):
        lou = fake_discord.user(20, "lou")
        picture = fake_discord.attachment(image(64, 64), "a.webp", "image/webp")
        chatter = fake_discord.message(
            lou, "my holiday", attachments=[fake_discord.attachment(image(8, 8), "b.jpg", "image/jpeg")]
        )
        question = fake_discord.message(
            lou, f"<@{APP_ID}> where is this?", mentions=[fake_discord.bot], attachments=[picture]
        )
        await fake_discord.dispatch("MESSAGE_CREATE", chatter)
        await fake_discord.dispatch("MESSAGE_CREATE", question)
        (seen,) = await core.wait_handled(1)
    assert seen.text == "where is this?" and seen.attachments[0].mime == "image/webp"
    assert fake_discord.downloads == [picture["url"].split("/attachments/", 1)[1]]  # not the chatter's


async def test_over_the_limit_is_one_line_and_nothing_is_downloaded(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    settings = discord_settings.model_copy(update={"max_media_mb": Decimal(1)})
    async with running_bot(core, settings, fake_discord):
        small = fake_discord.attachment(image(8, 8), "small.jpg", "image/jpeg")
        big = fake_discord.attachment(b"x" * 10, "big.jpg", "image/jpeg", size=1024 * 1024 + 1)
        await send_dm(fake_discord, "both?", small, big)
        await fake_discord.wait_for(lambda: bool(fake_discord.posted(DM_CHANNEL)), "a line about the size")
    assert fake_discord.posted(DM_CHANNEL) == [TOO_BIG]
    assert fake_discord.downloads == [] and core.started == []  # not even the small one


async def test_a_failed_download_or_another_kind_of_file_is_one_line(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    async with running_bot(core, discord_settings, fake_discord):
        broken = fake_discord.attachment(image(8, 8), "x.jpg", "image/jpeg")
        fake_discord.fail_download(broken)
        await send_dm(fake_discord, "what is it?", broken)
        await fake_discord.wait_for(
            lambda: len(fake_discord.posted(DM_CHANNEL)) == 1, "a line about the download"
        )
        await send_dm(
            fake_discord, "read this", fake_discord.attachment(b"%PDF-1.7", "a.pdf", "application/pdf")
        )
        await fake_discord.wait_for(
            lambda: len(fake_discord.posted(DM_CHANNEL)) == 2, "a line about the kind"
        )
    assert fake_discord.posted(DM_CHANNEL) == [FAILED, UNSUPPORTED]
    assert core.started == [] and len(fake_discord.downloads) == 1
