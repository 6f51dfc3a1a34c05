"""Stop and drafts end to end: the real Application, the fake Bot API, the real core and ledger, and the
fake OpenAI server. A Stop (the inline button in a group, Telegram's own stop on a private chat's draft)
cancels the provider request at once, keeps what was shown ending in a short note, and charges the bound of
what streamed; anyone else's press changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.telegram_bot import reply as telegram_reply
from bot import core as core_module
from bot.config import Settings
from bot.providers import demo
from bot.wording import STOP_NOT_YOURS, STOPPED_NOTE
from tests.doubles import TrackingCore, eventually
from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.fakes.telegram_api import GROUP_ID, FakeTelegram
from tests.fakes.telegram_fixtures import running_bot

MODEL = "openai/gpt-4o-mini"
INPUT_NANOS, OUTPUT_NANOS = 150, 600  # gpt-4o-mini per token: $0.15 and $0.60 per million
ALICE = tg.user(31, "Alice", "alice")
BOB = tg.user(32, "Bob", "bob")
CAROL = tg.user(33, "Carol")


def models(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(
        update={
            "openai_base_url": base_url,
            "openai_api_key": "sk-test",
            "default_model": MODEL,
            "default_cap_usd": Decimal("1.00"),
            "max_output_tokens": 1024,
        }
    )


@pytest.fixture
async def core(telegram_settings: Settings, fake_openai: FakeOpenAI) -> AsyncIterator[TrackingCore]:
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)  # then silent
    async with core_module.open_core(models(telegram_settings, fake_openai.url)) as real:
        yield TrackingCore(real)


async def charge(core: TrackingCore, user: str) -> tuple[int, int]:
    db = core.inner.services.ledger.db
    row = await db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", user)
    assert row is not None
    held = await db.fetchone("SELECT COUNT(*) AS n FROM holds")
    assert held is not None and int(held["n"]) == 0
    return int(row["cost"]), int(row["estimated"])


def bound_of(streamed: str, question: str) -> int:
    """The input bound (UTF-8 bytes plus 8 tokens of framing per message) and one output token per byte
    streamed, spelled out here rather than taken from the bot."""
    system_prompt = Settings.model_fields["system_prompt"].default
    prompt = sum(len(text.encode()) + 8 for text in (system_prompt, question))
    return prompt * INPUT_NANOS + len(streamed.encode()) * OUTPUT_NANOS


def stop_button(message: dict[str, Any]) -> str:
    (button,) = tg.buttons(message)
    assert button["text"] == "Stop"
    return str(button["callback_data"])


async def test_stop_in_a_group_by_the_asker_only(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    fake_openai: FakeOpenAI,
    core: TrackingCore,
) -> None:
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.group_text(BOB, "/ask count"))
        await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")

        def progress() -> list[dict[str, Any]]:
            return [m for m in fake_telegram.chat_messages(GROUP_ID) if m.get("reply_markup")]

        await fake_telegram.wait_for(lambda: bool(progress()), "a progress message with its Stop button")
        (shown,) = progress()
        data = stop_button(shown)

        await fake_telegram.push(tg.callback(CAROL, shown, data))  # not hers to stop
        await fake_telegram.wait_for(lambda: bool(fake_telegram.calls_to("answerCallbackQuery")), "refusal")
        assert fake_telegram.calls_to("answerCallbackQuery")[0].params["text"] == STOP_NOT_YOURS
        assert fake_openai.disconnects == 0 and not core.handled  # nothing changed

        await fake_telegram.push(tg.callback(BOB, shown, data))
        await core.wait_handled(1)
        await eventually(lambda: fake_openai.disconnects == 1, "the provider request cancelled")
    (final,) = fake_telegram.chat_messages(GROUP_ID)
    assert final["text"].startswith("one two three") and final["text"].endswith(STOPPED_NOTE)
    assert "reply_markup" not in final  # the button went with the progress
    cost, estimated = await charge(core, "telegram:32")
    assert (cost, estimated) == (bound_of("one two three ", "count"), 1)  # never the whole hold


async def test_telegrams_own_stop_on_a_draft_stops_the_answer(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    fake_openai: FakeOpenAI,
    core: TrackingCore,
) -> None:
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "count"))
        await fake_telegram.wait_for(
            lambda: any(t.startswith("one") for t in fake_telegram.drafted(31)), "a draft"
        )
        await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")
        draft = fake_telegram.drafts[31][-1]
        assert str(draft["can_stop"]).lower() == str(draft["keep_on_stop"]).lower() == "true"
        assert fake_telegram.shown(31) == []  # nothing persisted while streaming
        await fake_telegram.push(tg.generation_stopped(31, int(draft["draft_id"])))
        await core.wait_handled(1)
        await eventually(lambda: fake_openai.disconnects == 1, "the provider request cancelled")
    (final,) = fake_telegram.chat_messages(31)
    assert final["history"] == [final["text"]]  # one sendMessage
    assert final["text"].startswith("one two three") and final["text"].endswith(STOPPED_NOTE)
    assert "reply_markup" not in final
    cost, estimated = await charge(core, "telegram:31")
    assert (cost, estimated) == (bound_of("one two three ", "count"), 1)


@pytest.fixture
async def demo_core(telegram_settings: Settings) -> AsyncIterator[TrackingCore]:
    async with (
        demo.demo_server(word_delay=0) as base_url,
        core_module.open_core(models(telegram_settings, base_url)) as real,
    ):
        yield TrackingCore(real)


async def test_a_chat_that_refuses_drafts_is_sent_and_edited_and_remembered(
    fake_telegram: FakeTelegram, telegram_settings: Settings, demo_core: TrackingCore
) -> None:
    fake_telegram.refuse_drafts.add(31)
    async with running_bot(demo_core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "first"))
        await demo_core.wait_handled(1)
        drafts_tried = len(fake_telegram.calls_to("sendMessageDraft"))
        await fake_telegram.push(tg.private_text(ALICE, "second"))
        await demo_core.wait_handled(2)
    assert drafts_tried == 1  # refused once ...
    assert len(fake_telegram.calls_to("sendMessageDraft")) == 1  # ... and never tried again
    first, second = fake_telegram.chat_messages(31)
    for answer in (first, second):
        assert len(answer["history"]) >= 2 and answer["history"][0].endswith("▌")  # sent, then edited
        assert "reply_markup" not in answer
    assert "Stop" in str(fake_telegram.calls_to("sendMessage")[0].params.get("reply_markup"))


async def test_an_answer_done_before_its_first_progress_call_is_one_message(
    fake_telegram: FakeTelegram, telegram_settings: Settings, demo_core: TrackingCore
) -> None:
    async with running_bot(demo_core, telegram_settings, edit_interval=5):
        await fake_telegram.push(tg.group_text(BOB, "/ask quick"), tg.private_text(ALICE, "quick"))
        await demo_core.wait_handled(2)
    for chat_id in (GROUP_ID, 31):
        (answer,) = fake_telegram.chat_messages(chat_id)
        assert answer["history"] == [answer["text"]] and "reply_markup" not in answer
    assert not fake_telegram.calls_to("editMessageText")
    assert not fake_telegram.calls_to("sendMessageDraft")  # nor a draft
    assert not fake_telegram.calls_to("sendChatAction")  # nor "typing…": the text came within a second


async def test_a_silent_model_shows_thinking_as_an_empty_draft(
    fake_telegram: FakeTelegram,
    telegram_settings: Settings,
    fake_openai: FakeOpenAI,
    core: TrackingCore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telegram_reply, "TYPING_AFTER", 0.05)
    fake_openai.default = Script(text="at last", delay=0.5)  # half a second before each chunk
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "think"))
        await core.wait_handled(1)
    drafted = fake_telegram.drafted(31)
    assert drafted[0] == ""  # Telegram's "Thinking…" while the model said nothing
    assert len({d["draft_id"] for d in fake_telegram.drafts[31]}) == 1  # then the answer's own drafts
    assert not fake_telegram.calls_to("sendChatAction")
    assert fake_telegram.shown(31) == ["at last"]


async def test_an_owner_may_stop_anyones_answer(
    fake_telegram: FakeTelegram, telegram_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)
    settings = models(telegram_settings, fake_openai.url).model_copy(update={"owner_ids": ("telegram:33",)})
    async with core_module.open_core(settings) as real:
        core = TrackingCore(real)
        async with running_bot(core, telegram_settings):
            await fake_telegram.push(tg.group_text(BOB, "/ask count"))
            await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")
            await fake_telegram.wait_for(
                lambda: any(m.get("reply_markup") for m in fake_telegram.chat_messages(GROUP_ID)), "Stop"
            )
            (shown,) = fake_telegram.chat_messages(GROUP_ID)
            await fake_telegram.push(tg.callback(CAROL, shown, stop_button(shown)))  # Carol is an owner
            await core.wait_handled(1)
            await eventually(lambda: fake_openai.disconnects == 1, "the provider request cancelled")
        (final,) = fake_telegram.chat_messages(GROUP_ID)
        assert final["text"].endswith(STOPPED_NOTE) and "reply_markup" not in final
        assert await charge(core, "telegram:32") == (bound_of("one two three ", "count"), 1)
