"""Photos and voice notes end to end, on Telegram and on Discord: sent through the fake platform to the
real bot (python-telegram-bot or discord.py, the real core and ledger) and answered by the fake OpenAI
server, which bills images by OpenAI's published formula and transcribes voice notes. Each test runs on
both platforms; the first also on PostgreSQL (with TEST_DATABASE_URL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.media import file_line
from bot.i18n import speaking
from bot.money import format_usd, usd_to_nanos
from bot.refusals import FileNotTaken
from tests.fakes import discord_api
from tests.fakes import telegram_api as tg
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_fixtures import restore_discord_urls
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_openai import Script, Transcription
from tests.fakes.media_files import TOO_BIG, image, voice_bytes
from tests.fakes.telegram_api import FakeTelegram
from tests.media.billing import genai_cost, sent_images
from tests.media.photos import image_size, photo
from tests.media.platforms import Bot, Chat, DiscordChat, TelegramChat, answering, stored_messages
from tests.providers.wiring import settled

MODEL = "openai/gpt-4o-mini"
ANSWER = Script().text  # what the fake model answers
ANSWER_TOKENS = len(ANSWER.split())  # the fake bills one output token a word
TEXT_TOKENS = Script().prompt_tokens  # and this many input tokens for the text of any request
HEARD = Transcription().text  # what the fake transcribes


@pytest.fixture(params=["telegram", "discord"])
async def chat(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Chat]:
    if request.param == "telegram":
        async with FakeTelegram() as telegram:
            yield TelegramChat(telegram)
    else:
        restore_discord_urls(monkeypatch)
        async with FakeDiscord() as discord:
            yield DiscordChat(discord)


async def ledger_state(bot: Bot, user: str) -> tuple[list[dict[str, object]], int]:
    """The charges (the ledger consistent, no hold left open) and what `user` has spent in all."""
    charges = await settled(bot)
    return charges, (await bot.ledger.summary(user)).spent


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_a_photo_with_a_caption_is_answered_and_charged_exactly_what_the_provider_billed(
    chat: Chat, tmp_path: Path, fakes: Fakes, database: str
) -> None:
    openai = fakes[0]
    sent = photo(1600, 1200)
    async with answering(chat, tmp_path, fakes, database=database) as bot:
        await chat.photo(sent, "What is in this picture?")
        await bot.seen.wait_handled(1)
        charges, spent = await ledger_state(bot, chat.user)
    assert [line.strip() for line in chat.shown()] == [ANSWER]
    (request,) = openai.requests
    text, picture = request.body["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is in this picture?"}
    assert picture["image_url"]["url"].startswith("data:image/jpeg;base64,")  # inline, never a link
    (billed,) = openai.billed_images
    (received,) = sent_images("openai", request.body)
    assert image_size(received) == (billed.width, billed.height) == (1024, 768)  # what OpenAI would see
    assert billed.tokens == 2833 + 5667 * 4  # four tiles of 512
    sent_out = json.dumps([request.body, request.headers])
    assert tg.TOKEN.split(":", 1)[1] not in sent_out and discord_api.TOKEN not in sent_out
    (charge,) = charges
    assert (charge["user_id"], charge["model"]) == (chat.user, MODEL)
    assert (charge["input_tokens"], charge["output_tokens"]) == (TEXT_TOKENS + billed.tokens, ANSWER_TOKENS)
    assert spent == charge["cost"] == genai_cost("openai", MODEL, TEXT_TOKENS + billed.tokens, ANSWER_TOKENS)
    assert charge["estimated"] == 0


async def test_a_photo_the_allowance_cant_pay_in_full_goes_smaller_and_is_never_charged_past_the_cap(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    """Four tiles on gpt-4o-mini (25,501 tokens) are about $0.0038 of input; $0.002 pays for low detail
    (2,833 tokens) and a short answer."""
    openai, cap = fakes[0], usd_to_nanos(Decimal("0.002"))
    async with answering(chat, tmp_path, fakes, default_cap_usd=Decimal("0.002")) as bot:
        await chat.photo(photo(2000, 2000), "What is this?")
        await bot.seen.wait_handled(1)
        (charge,), spent = await ledger_state(bot, chat.user)
    answer, note = chat.shown()
    assert answer.strip() == ANSWER
    assert note.startswith("(The image was sent at a lower resolution to fit your allowance;")
    (billed,) = openai.billed_images
    assert billed.tokens < 2833 + 5667 * 4
    assert charge["input_tokens"] == TEXT_TOKENS + billed.tokens
    assert spent == charge["cost"] == genai_cost("openai", MODEL, charge["input_tokens"], ANSWER_TOKENS)
    assert spent <= cap
    assert format_usd(cap - spent) in note  # what is left, as the ledger has it


async def test_a_photo_no_size_of_which_the_allowance_can_pay_is_one_line_and_nothing_charged(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with answering(chat, tmp_path, fakes, default_cap_usd=Decimal("0.0003")) as bot:
        await chat.photo(photo(2000, 2000), "What is this?")
        await bot.seen.wait_handled(1)
        charges, spent = await ledger_state(bot, chat.user)
        kept = await stored_messages(bot.db)
    (line,) = chat.shown()
    assert "\n" not in line and "left" in line.lower()
    assert openai.requests == [] and charges == [] and spent == 0 and kept == 0


async def test_a_voice_note_is_transcribed_shown_answered_and_both_charges_reported(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    openai, recorded = fakes[0], voice_bytes(4)
    async with answering(chat, tmp_path, fakes, owner_ids=(chat.user,)) as bot:
        await chat.voice(recorded, 4)
        await bot.seen.wait_handled(1)
        await chat.text("/usage")
        await bot.seen.wait_handled(2)
        (transcription, answer), spent = await ledger_state(bot, chat.user)
    (heard,) = openai.audio
    assert (heard.data, heard.model) == (recorded, "gpt-4o-mini-transcribe")
    assert heard.filename.endswith(".ogg")  # the format the endpoint tells by the name
    quoted, answered, usage = chat.shown()
    assert quoted == f'🎤 "{HEARD}"' and answered.strip() == ANSWER
    (request,) = openai.requests
    assert request.body["messages"][-1]["content"] == HEARD  # the transcript is the question
    assert transcription["model"] == "openai/gpt-4o-mini-transcribe"
    assert transcription["cost"] == genai_cost("openai", transcription["model"], 180, 12, audio_tokens=180)
    assert (transcription["input_tokens"], transcription["output_tokens"]) == (180, 12)
    assert answer["model"] == MODEL
    assert answer["cost"] == genai_cost("openai", MODEL, TEXT_TOKENS, ANSWER_TOKENS)
    assert spent == transcription["cost"] + answer["cost"]
    lines = usage.splitlines()
    assert (
        "openai/gpt-4o-mini-transcribe: 1 req, 180 in (0 cached), 12 out (0 reasoning), "
        + format_usd(transcription["cost"])
        in lines
    )
    assert lines[-1] == f"Total: 2 req, {format_usd(spent)}"


async def test_a_damaged_image_an_oversize_file_and_a_long_recording_are_each_one_line_and_free(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    """One line each, nothing charged, nothing kept in the history."""
    openai = fakes[0]
    limits = {"max_media_mb": Decimal(1), "max_audio_seconds": 60}
    async with answering(chat, tmp_path, fakes, **limits) as bot:
        await chat.image_file(photo(800, 600)[:400], "What is this?")  # cut off mid-file
        await bot.seen.wait_handled(1)
        await chat.photo(image(64, 64), "And this?", declared_size=1024 * 1024 + 1)
        await chat.wait_shown(2)
        await chat.voice(voice_bytes(2), 61)  # as long as the platform says it is
        await bot.seen.wait_handled(2)
        charges, spent = await ledger_state(bot, chat.user)
        kept = await stored_messages(bot.db)
    damaged, too_big, too_long = chat.shown()
    assert "damaged" in damaged and damaged.endswith("Nothing was charged.") and "\n" not in damaged
    assert too_big == TOO_BIG
    assert too_long == "That audio is 61 s long; I take up to 60 s. Nothing was charged."
    assert len(bot.seen.started) == 2  # the oversize file never reached the core
    assert chat.downloads() == 2  # nor was it downloaded
    assert openai.requests == openai.audio == [] and charges == [] and spent == 0 and kept == 0


async def test_photos_sent_one_after_another_never_take_the_person_past_the_cap(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    """$0.006 pays one full-size four-tile photo on gpt-4o-mini ($0.0038 of input), then one tile
    ($0.0013), then low detail twice ($0.00043 each); the fifth photo finds $0.000033 left and is refused."""
    openai, cap = fakes[0], usd_to_nanos(Decimal("0.006"))
    async with answering(chat, tmp_path, fakes, default_cap_usd=Decimal("0.006")) as bot:
        for n in range(5):
            await chat.photo(photo(2000, 2000), f"Photo {n}?")
        await bot.seen.wait_handled(5)
        charges, spent = await ledger_state(bot, chat.user)
    assert [b.tokens for b in openai.billed_images] == [2833 + 5667 * 4, 2833 + 5667, 2833, 2833]
    assert len(charges) == len(openai.requests) == 4
    for charge, billed in zip(charges, openai.billed_images, strict=True):
        assert charge["input_tokens"] == TEXT_TOKENS + billed.tokens
        assert charge["cost"] == genai_cost("openai", MODEL, charge["input_tokens"], ANSWER_TOKENS)
    assert spent == sum(c["cost"] for c in charges) <= cap
    shown = [line.strip() for line in chat.shown()]
    assert shown.count(ANSWER) == 4
    notes = [line for line in shown if line.startswith("(The image was sent at a lower resolution")]
    assert len(notes) == 3 and notes[-1].endswith(f"{format_usd(cap - spent)} left.)")
    assert "left" in shown[-1] and "\n" not in shown[-1] and shown[-1] not in notes  # the fifth: one line


async def test_in_a_group_a_photo_and_a_voice_note_that_mention_the_bot_are_answered_there_and_paid(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    openai, group = fakes[0], chat.in_group()
    async with answering(group, tmp_path, fakes) as bot:
        await group.photo(photo(640, 480), "Which city is this?")
        await bot.seen.wait_handled(1)
        await group.voice(voice_bytes(3), 3)
        await bot.seen.wait_handled(2)
        (seen, heard, answered), spent = await ledger_state(bot, chat.user)
    assert [line.strip() for line in group.shown()] == [ANSWER, f'🎤 "{HEARD}"', ANSWER]
    asked = openai.requests[0].body["messages"][-1]["content"]
    assert asked[0] == {"type": "text", "text": "Which city is this?"}  # the mention is not the question
    assert openai.requests[1].body["messages"][-1]["content"] == HEARD
    assert [c["model"] for c in (seen, heard, answered)] == [MODEL, "openai/gpt-4o-mini-transcribe", MODEL]
    assert {c["user_id"] for c in (seen, heard, answered)} == {chat.user}
    assert spent == seen["cost"] + heard["cost"] + answered["cost"]


async def test_a_follow_up_carries_the_image_stand_in_and_a_reply_to_the_photo_sends_it_again(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with answering(chat, tmp_path, fakes) as bot:
        await chat.photo(photo(512, 512), "What breed is this dog?")
        await bot.seen.wait_handled(1)
        await chat.text("And how big do they get?")
        await bot.seen.wait_handled(2)
        follow_up = openai.requests[-1].body["messages"]
        await chat.reply("What colour is its collar?")  # to the photo itself: about the picture again
        await bot.seen.wait_handled(3)
        first, second, third = await settled(bot)
    asked, answered, again = follow_up[-3:]
    assert asked == {"role": "user", "content": "[image] What breed is this dog?"}
    assert answered["role"] == "assistant" and answered["content"].strip() == ANSWER
    assert again == {"role": "user", "content": "And how big do they get?"}
    assert "image_url" not in json.dumps(follow_up)
    replied = openai.requests[-1].body["messages"]
    text, picture = replied[-1]["content"]
    assert text == {"type": "text", "text": "What colour is its collar?"}
    assert picture["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert all(isinstance(m["content"], str) for m in replied[:-1])  # earlier turns keep their stand-in
    once, twice = openai.billed_images  # billed for the photo and for the reply to it, not the follow-up
    assert once == twice
    assert (first["input_tokens"], second["input_tokens"], third["input_tokens"]) == (
        TEXT_TOKENS + once.tokens,
        TEXT_TOKENS,
        TEXT_TOKENS + twice.tokens,
    )
    assert [line.strip() for line in chat.shown()] == [ANSWER] * 3


async def test_a_file_refused_before_the_core_is_worded_in_the_language_the_person_chose(
    chat: Chat, tmp_path: Path, fakes: Fakes
) -> None:
    """The adapter's own line (the file is never downloaded) follows /lang, as the core's answers do."""
    async with answering(chat, tmp_path, fakes, max_media_mb=Decimal(1)) as bot:
        await chat.text("/lang fr")
        await bot.seen.wait_handled(1)
        await chat.photo(image(64, 64), "Et ceci ?", declared_size=1024 * 1024 + 1)
        await chat.wait_shown(2)
    chose, too_big = chat.shown()
    assert chose == "Langue réglée sur Français."
    with speaking("fr"):
        assert too_big == file_line(FileNotTaken("too_big", Decimal(1)))
    assert too_big.startswith("Ce fichier est trop volumineux")
    assert chat.downloads() == 0
