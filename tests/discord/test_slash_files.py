"""/ask with an attachment: the real discord.py client against the fake Discord, which carries the upload
as Discord does (the option's value is the attachment's id, the file in `data.resolved.attachments`) and
serves its bytes at a local URL. First through a scripted core (what reaches it, what was downloaded, the
one ephemeral line for a file not taken), then through the real core and ledger with the fake OpenAI
server, which bills images by OpenAI's formula and transcribes audio."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.discord_bot import PLACEHOLDER
from adapters.media import file_line
from bot.config import Settings
from bot.i18n import speaking
from bot.incoming import Attachment
from bot.refusals import FileNotTaken
from tests.discord.test_media import recording
from tests.fakes import discord_api
from tests.fakes.discord_api import EPHEMERAL, TOKEN, Call, FakeDiscord
from tests.fakes.discord_fixtures import restore_discord_urls, running_bot
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_openai import Script, Transcription
from tests.fakes.media_files import FAILED, TOO_BIG, UNSUPPORTED, image, voice_bytes
from tests.media.billing import genai_cost
from tests.media.photos import photo
from tests.media.platforms import ASKER, Bot, DiscordChat, answering
from tests.providers.wiring import settled

MODEL = "openai/gpt-4o-mini"
ANSWER = Script().text  # what the fake model answers
ANSWER_TOKENS = len(ANSWER.split())  # the fake bills one output token a word
TEXT_TOKENS = Script().prompt_tokens  # and this many input tokens for the text of any request
HEARD = Transcription().text  # what the fake transcribes


def ask(
    fake: FakeDiscord, prompt: str | None, file: dict[str, Any], *, locale: str = "en-US"
) -> dict[str, Any]:
    """`/ask [prompt] attachment:<file>` from the asker in #general."""
    options = {"prompt": prompt} if prompt is not None else {}
    person = fake.user(ASKER, "alice")
    return fake.slash(person, "ask", options, files={"attachment": file}, locale=locale)


def answered_at_once(callback: Call) -> tuple[str, int]:
    """The line and flags of an interaction answered with a message (type 4), not deferred."""
    assert callback.body["type"] == 4
    return callback.body["data"]["content"], callback.flags


async def test_the_command_tree_declares_an_optional_attachment_with_localized_descriptions(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    async with running_bot(recording(), discord_settings, fake_discord):
        pass
    (synced,) = [c for c in fake_discord.commands[discord_api.GUILD_ID] if c["name"] == "ask"]
    prompt, attachment = synced["options"]
    assert (attachment["name"], attachment["type"], attachment["required"]) == ("attachment", 11, False)
    assert prompt["required"] is False  # an image or a recording alone is a question too
    assert attachment["description"] == "An image to ask about, or a recording to answer"
    assert attachment["description_localizations"] == {
        "zh-CN": "要提问的图片，或要回答的录音",
        "es-ES": "Una imagen sobre la que preguntar, o una grabación a la que responder",
        "es-419": "Una imagen sobre la que preguntar, o una grabación a la que responder",
        "fr": "Une image sur laquelle poser une question, ou un enregistrement auquel répondre",
    }
    assert not attachment.get("name_localizations")  # what people pick: never translated


async def test_an_image_and_a_recording_reach_the_core_as_bytes(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    picture, sound = image(640, 480), voice_bytes(3)
    async with running_bot(core, discord_settings, fake_discord):
        with_text = ask(
            fake_discord, "what is this?", fake_discord.attachment(picture, "a.jpg", "image/jpeg")
        )
        alone = ask(fake_discord, None, fake_discord.attachment(sound, "note.ogg", "audio/ogg"))
        await fake_discord.dispatch("INTERACTION_CREATE", with_text)
        await core.wait_handled(1)
        await fake_discord.dispatch("INTERACTION_CREATE", alone)
        first, second = await core.wait_handled(2)
    assert first.text == "/ask what is this?"
    assert first.attachments == (Attachment("image", picture, "image/jpeg", "a.jpg"),)
    assert second.text == "/ask"  # the recording is the question
    assert second.attachments == (Attachment("audio", sound, "audio/ogg", "note.ogg"),)
    assert len(fake_discord.downloads) == 2
    for event in (with_text, alone):
        (callback,) = fake_discord.callbacks(event["token"])
        assert callback.body == {"type": 5}  # deferred publicly, as any /ask
        assert fake_discord.shown(event["token"]) == ["got 1 file(s)"]
    assert TOKEN not in repr([first, second])


async def test_a_file_over_the_limit_is_one_ephemeral_line_and_is_never_downloaded(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    settings = discord_settings.model_copy(update={"max_media_mb": Decimal(1)})
    big = fake_discord.attachment(b"x" * 10, "big.jpg", "image/jpeg", size=1024 * 1024 + 1)
    async with running_bot(core, settings, fake_discord):
        event = ask(fake_discord, "and this?", big)
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await fake_discord.wait_for(lambda: bool(fake_discord.callbacks(event["token"])), "the refusal")
    (callback,) = fake_discord.for_token(event["token"])  # in place of the deferral; nothing after it
    assert answered_at_once(callback) == (TOO_BIG, EPHEMERAL)
    assert fake_discord.downloads == [] and core.started == []


async def test_another_kind_of_file_is_one_ephemeral_line_in_the_askers_language(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    pdf = fake_discord.attachment(b"%PDF-1.7", "a.pdf", "application/pdf")
    async with running_bot(core, discord_settings, fake_discord):
        event = ask(fake_discord, "read this", pdf)
        in_french = ask(fake_discord, "lis ça", pdf, locale="fr")
        for sent in (event, in_french):
            await fake_discord.dispatch("INTERACTION_CREATE", sent)
        tokens = [event["token"], in_french["token"]]
        await fake_discord.wait_for(lambda: all(fake_discord.callbacks(t) for t in tokens), "two refusals")
    with speaking("fr"):
        french = file_line(FileNotTaken("unsupported"))
    assert french != UNSUPPORTED
    for sent, line in ((event, UNSUPPORTED), (in_french, french)):
        (callback,) = fake_discord.for_token(sent["token"])
        assert answered_at_once(callback) == (line, EPHEMERAL)
        assert "\n" not in line
    assert fake_discord.downloads == [] and core.started == []


async def test_a_failed_download_is_one_line_only_the_asker_sees(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = recording()
    broken = fake_discord.attachment(image(8, 8), "x.jpg", "image/jpeg")
    fake_discord.fail_download(broken)
    async with running_bot(core, discord_settings, fake_discord):
        event = ask(fake_discord, "what is it?", broken)
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await fake_discord.wait_for(lambda: bool(fake_discord.followups(event["token"])), "the line")
    token = event["token"]
    calls = fake_discord.for_token(token)
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in calls] == [
        ("POST", "callback"),  # deferred publicly: the download comes in the person's turn
        ("PATCH", "@original"),  # the public placeholder is completed...
        ("DELETE", "@original"),  # ...and withdrawn
        ("POST", token),  # the line goes to the asker alone
    ]
    assert calls[1].content == PLACEHOLDER
    assert calls[3].content == FAILED and calls[3].flags & EPHEMERAL
    assert core.started == [] and len(fake_discord.downloads) == 1


# ---------------------------------------------------------------- through the real core and ledger


@pytest.fixture
async def chat(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordChat]:
    restore_discord_urls(monkeypatch)
    async with FakeDiscord() as fake:
        yield DiscordChat(fake)


async def asked(chat: DiscordChat, bot: Bot, event: dict[str, Any], handled: int) -> list[str]:
    """Send the interaction and wait for the core to finish it; what its messages show."""
    await chat.fake.dispatch("INTERACTION_CREATE", event)
    await bot.seen.wait_handled(handled)
    return [line.strip() for line in chat.fake.shown(event["token"])]


async def test_an_image_is_answered_and_charged_exactly_what_the_provider_billed(
    chat: DiscordChat, tmp_path: Path, fakes: Fakes
) -> None:
    openai, fake = fakes[0], chat.fake
    async with answering(chat, tmp_path, fakes) as bot:
        with_text = ask(
            fake, "What is in this picture?", fake.attachment(photo(1600, 1200), "p.jpg", "image/jpeg")
        )
        shown = await asked(chat, bot, with_text, 1)
        alone = ask(fake, None, fake.attachment(photo(300, 200), "q.jpg", "image/jpeg"))
        shown_alone = await asked(chat, bot, alone, 2)
        charges = await settled(bot)
        spent = (await bot.ledger.summary(chat.user)).spent
    assert shown == shown_alone == [ANSWER]
    first, second = openai.requests
    text, picture = first.body["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is in this picture?"}
    assert picture["image_url"]["url"].startswith("data:image/jpeg;base64,")  # inline, never a link
    assert second.body["messages"][-1]["content"][0] == {"type": "text", "text": "Describe this image."}
    assert TOKEN not in json.dumps([r.body for r in openai.requests])
    big, small = openai.billed_images
    assert (big.width, big.height, big.tokens) == (1024, 768, 2833 + 5667 * 4)  # four tiles of 512
    assert small.tokens == 2833 + 5667  # one tile
    for charge, billed in zip(charges, (big, small), strict=True):
        assert (charge["user_id"], charge["model"]) == (chat.user, MODEL)
        assert (charge["input_tokens"], charge["output_tokens"]) == (
            TEXT_TOKENS + billed.tokens,
            ANSWER_TOKENS,
        )
        assert charge["cost"] == genai_cost("openai", MODEL, TEXT_TOKENS + billed.tokens, ANSWER_TOKENS)
        assert charge["estimated"] == 0
    assert spent == sum(c["cost"] for c in charges)


async def test_a_recording_is_transcribed_shown_answered_and_both_charged(
    chat: DiscordChat, tmp_path: Path, fakes: Fakes
) -> None:
    openai, fake, sound = fakes[0], chat.fake, voice_bytes(4)
    async with answering(chat, tmp_path, fakes) as bot:
        event = ask(fake, None, fake.attachment(sound, "note.ogg", "audio/ogg"))
        shown = await asked(chat, bot, event, 1)
        transcription, answer = await settled(bot)
        spent = (await bot.ledger.summary(chat.user)).spent
    (heard,) = openai.audio
    assert (heard.data, heard.model) == (sound, "gpt-4o-mini-transcribe")
    assert shown == [f'🎤 "{HEARD}"', ANSWER]
    (request,) = openai.requests
    assert request.body["messages"][-1]["content"] == HEARD  # the transcript is the question
    assert transcription["model"] == "openai/gpt-4o-mini-transcribe"
    assert transcription["cost"] == genai_cost("openai", transcription["model"], 180, 12, audio_tokens=180)
    assert answer["model"] == MODEL
    assert answer["cost"] == genai_cost("openai", MODEL, TEXT_TOKENS, ANSWER_TOKENS)
    assert spent == transcription["cost"] + answer["cost"]
    assert {transcription["user_id"], answer["user_id"]} == {f"discord:{ASKER}"}
