"""Telegram end to end: the real python-telegram-bot Application, the fake Bot API, the real core and
ledger, and an OpenAI-compatible model server on 127.0.0.1 (the console demo's server, reached through the
ordinary provider path with OPENAI_BASE_URL and MISTRAL_BASE_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.telegram_bot import utf16_units
from bot import core as core_module
from bot.config import Settings
from bot.providers import demo
from tests.doubles import TrackingCore
from tests.fakes import telegram_api as tg
from tests.fakes.llm_openai import FakeOpenAI, Script, openai_error
from tests.fakes.telegram_api import BOT_USERNAME, GROUP_ID, LIMIT, FakeTelegram
from tests.fakes.telegram_fixtures import running_bot

MODEL = "openai/gpt-4o-mini"
ALICE = tg.user(31, "Alice", "alice")
BOB = tg.user(32, "Bob", "bob")
CAROL = tg.user(33, "Carol")


@pytest.fixture
async def model_server() -> AsyncIterator[str]:
    async with demo.demo_server(word_delay=0) as base_url:
        yield base_url


def with_models(settings: Settings, base_url: str, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "openai_base_url": base_url,
            "openai_api_key": "sk-test",
            "mistral_base_url": base_url,
            "mistral_api_key": "sk-test-mistral",
            "default_model": MODEL,
            "default_cap_usd": Decimal("1.00"),
            **more,
        }
    )


@pytest.fixture
async def core(telegram_settings: Settings, model_server: str) -> AsyncIterator[TrackingCore]:
    async with core_module.open_core(with_models(telegram_settings, model_server)) as real:
        yield TrackingCore(real)


def services(core: TrackingCore) -> Any:
    inner: Any = core.inner  # the real Core behind the tracking wrapper
    return inner.services


def ledger(core: TrackingCore) -> Any:
    return services(core).ledger


async def test_private_question_answered_and_charged(
    fake_telegram: FakeTelegram, telegram_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "What is a ledger?"))
        await core.wait_handled(1)
        await fake_telegram.push(tg.private_text(ALICE, "/spend"))
        await core.wait_handled(2)
    answer, spend = fake_telegram.chat_messages(31)
    assert 'You asked: "What is a ledger?"' in answer["text"]
    assert answer["history"] == [answer["text"]]  # drafts while streaming, then one sendMessage
    summary = await ledger(core).summary("telegram:31")
    assert summary.spent > 0 and summary.held == 0
    assert spend["text"].startswith("Spent $")
    registered = {c["command"] for c in fake_telegram.commands['{"type": "default"}']}
    assert {"start", "help", "ask", "model", "spend", "new"} <= registered


async def test_group_mention_and_reply_continue_one_conversation_paid_by_the_asker(
    fake_telegram: FakeTelegram, telegram_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.group_text(BOB, f"@{BOT_USERNAME} what is a cap?"))
        await core.wait_handled(1)
        (first,) = fake_telegram.chat_messages(GROUP_ID)
        await fake_telegram.push(tg.group_text(BOB, "and a period?", reply_to=first))
        await core.wait_handled(2)
        await fake_telegram.push(tg.group_text(CAROL, "nice chat everyone"), tg.group_text(CAROL, "/new"))
        await core.wait_handled(3)
    first, second, new = fake_telegram.chat_messages(GROUP_ID)
    assert 'You asked: "what is a cap?"' in first["text"]
    assert 'You asked: "and a period?"' in second["text"]
    assert new["text"].startswith("Started a new conversation")  # Carol's chatter never reached the core
    assert [m.text for m in core.handled] == ["what is a cap?", "and a period?", "/new"]
    history = await services(core).conversations.history(f"telegram:{GROUP_ID}:32")
    assert len(history) == 4  # two questions and two answers in Bob's one conversation
    assert (await ledger(core).summary("telegram:32")).spent > 0
    assert (await ledger(core).summary("telegram:33")).spent == 0


async def test_model_keyboard_tap_switches_the_model(
    fake_telegram: FakeTelegram, telegram_settings: Settings, core: TrackingCore
) -> None:
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(CAROL, "/model"))
        await core.wait_handled(1)
        (menu,) = fake_telegram.chat_messages(33)
        providers = tg.buttons(menu)
        assert [b["text"] for b in providers] == ["OpenAI", "Mistral"]
        await fake_telegram.push(tg.callback(CAROL, menu, providers[1]["callback_data"]))
        await fake_telegram.wait_for(
            lambda: "Mistral" in fake_telegram.chat_messages(33)[0]["text"], "models"
        )
        models = tg.buttons(fake_telegram.chat_messages(33)[0])
        chosen = next(b for b in models if "mistral-small-latest" in b["text"])
        assert "$" in chosen["text"] and "per 1M" in chosen["text"]
        await fake_telegram.push(
            tg.callback(CAROL, fake_telegram.chat_messages(33)[0], chosen["callback_data"])
        )
        await core.wait_handled(2)
        await fake_telegram.wait_for(
            lambda: len(fake_telegram.calls_to("answerCallbackQuery")) == 2, "answers"
        )
    (confirmed,) = fake_telegram.chat_messages(33)
    assert confirmed["text"].startswith("Model set to mistral/mistral-small-latest")
    assert "reply_markup" not in confirmed
    toast = fake_telegram.calls_to("answerCallbackQuery")[-1].params["text"]
    assert toast.startswith("Model set to mistral/mistral-small-latest")
    assert (await ledger(core).profile("telegram:33")).model == "mistral/mistral-small-latest"


async def test_a_long_answer_continues_in_further_messages(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    async with demo.demo_server(word_delay=0, fill_to_limit=True) as base_url:
        settings = with_models(telegram_settings, base_url, max_output_tokens=1600)
        async with core_module.open_core(settings) as real:
            core = TrackingCore(real)
            async with running_bot(core, settings, edit_interval=0.05):
                await fake_telegram.push(tg.private_text(ALICE, "Tell me everything."))
                await core.wait_handled(1)
            spent = (await real.services.ledger.summary("telegram:31")).spent
    shown = fake_telegram.shown(31)
    assert len(shown) >= 2
    assert all(0 < utf16_units(text) <= LIMIT for text in shown)
    assert sum(len(text.split()) for text in shown) == 1600  # every word arrived, once
    assert spent > 0


async def test_cap_reached_is_one_line_and_nothing_is_charged(
    fake_telegram: FakeTelegram, telegram_settings: Settings, core: TrackingCore
) -> None:
    await ledger(core).set_cap("telegram:32", 0)
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(BOB, "hello"))
        await core.wait_handled(1)
    (line,) = fake_telegram.shown(32)
    assert line.startswith("Your allowance can't pay for an answer: $0") and "\n" not in line
    assert (await ledger(core).summary("telegram:32")).spent == 0


async def alice_asks(fake_telegram: FakeTelegram, settings: Settings, question: str) -> int:
    """Alice's private question through a core opened on `settings`; returns what she was charged."""
    async with core_module.open_core(settings) as real:
        core = TrackingCore(real)
        async with running_bot(core, settings):
            await fake_telegram.push(tg.private_text(ALICE, question))
            await core.wait_handled(1)
        spent: int = (await real.services.ledger.summary("telegram:31")).spent
    return spent


BAD_KEY = openai_error(
    401, "Incorrect API key provided: sk-test.", "invalid_request_error", "invalid_api_key"
)


async def test_a_provider_error_is_one_short_line_and_nothing_is_charged(
    fake_telegram: FakeTelegram, telegram_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.then(Script(status=401, error_body=BAD_KEY))
    settings = with_models(telegram_settings, fake_openai.url)
    spent = await alice_asks(fake_telegram, settings, "hello")
    (line,) = fake_telegram.shown(31)
    assert line.startswith(MODEL) and line.endswith("You were not charged.")
    assert "\n" not in line and "sk-test" not in line and len(line) < 200
    assert spent == 0


async def test_a_provider_failing_mid_answer_keeps_the_text_and_adds_one_line(
    fake_telegram: FakeTelegram, telegram_settings: Settings, fake_openai: FakeOpenAI
) -> None:
    fake_openai.then(Script(text="one two three four five six", error_chunk_after_words=3))
    settings = with_models(telegram_settings, fake_openai.url)
    spent = await alice_asks(fake_telegram, settings, "count")
    partial, line = fake_telegram.shown(31)
    assert partial == "one two three"  # delivered as far as it got, without the cursor
    assert line.startswith("(The answer was cut off") and "\n" not in line and "sk-test" not in line
    assert spent > 0  # text was shown: charged what it may have used, as the line says


async def test_owner_commands_in_a_group_name_people_by_reply_and_refuse_others(
    fake_telegram: FakeTelegram, telegram_settings: Settings, model_server: str
) -> None:
    settings = with_models(telegram_settings, model_server, owner_ids=("telegram:31",))
    async with core_module.open_core(settings) as real:
        core = TrackingCore(real)
        book = real.services.ledger
        bobs = tg.group_text(BOB, f"@{BOT_USERNAME} hello")
        async with running_bot(core, settings):
            await fake_telegram.push(bobs)
            await core.wait_handled(1)
            await fake_telegram.push(tg.group_text(ALICE, "/cap 0.25 daily", reply_to=bobs["message"]))
            await core.wait_handled(2)
            await fake_telegram.push(
                tg.group_text(BOB, "/cap @alice 100"), tg.group_text(BOB, "/unblock @bob")
            )
            await core.wait_handled(4)
            await fake_telegram.push(tg.group_text(ALICE, "/block @bob"))
            await core.wait_handled(5)
            await fake_telegram.push(tg.group_text(BOB, "/ask still there?"))
            await core.wait_handled(6)
        bob, alice = await book.profile("telegram:32"), await book.profile("telegram:31")
        spent = (await book.summary("telegram:32")).spent
    _, capped, refused, refused_again, blocked, ask = fake_telegram.shown(GROUP_ID)
    assert capped.startswith("Cap set. telegram:32 (@bob)") and "of $0.25 per day" in capped
    assert (bob.cap, bob.period, bob.blocked) == (250_000_000, "daily", True)
    assert (alice.cap, alice.blocked) == (None, False)  # Bob's owner commands changed nothing
    assert (refused, refused_again) == (
        "/cap is for the bot's owner only.",
        "/unblock is for the bot's owner only.",
    )
    assert blocked.startswith("Blocked telegram:32.")
    assert ask == "You are blocked from using this bot."
    assert spent > 0  # the first answer only; the blocked question cost nothing
    assert [m.user for m in core.handled] == [
        "telegram:32",
        "telegram:31",
        *["telegram:32"] * 2,
        "telegram:31",
        "telegram:32",
    ]


async def test_a_group_link_shows_no_code_in_the_group_and_a_private_one_links(
    fake_telegram: FakeTelegram, telegram_settings: Settings, core: TrackingCore
) -> None:
    """Issue 13: /link (or a mention asking for it) in a group used to show the code to the whole group."""
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.group_text(BOB, "/link"), tg.group_text(BOB, f"@{BOT_USERNAME} /link"))
        await core.wait_handled(2)
        await fake_telegram.push(tg.private_text(BOB, "/link"))
        await core.wait_handled(3)
    group = fake_telegram.shown(GROUP_ID)
    assert len(group) == 2
    assert all(line.startswith("Send /link to me in a private chat") for line in group)
    assert not any("code is" in line for line in group)
    (private,) = fake_telegram.shown(32)
    code = private.split("Your link code is ", 1)[1].split(".", 1)[0]
    linked = await ledger(core).redeem_code("discord:32", code)
    assert linked.identities == ("telegram:32", "discord:32")


async def test_a_redelivered_update_is_answered_and_charged_once(
    fake_telegram: FakeTelegram, telegram_settings: Settings, model_server: str
) -> None:
    """Telegram re-sends updates a crashed process had not confirmed: the same update twice while running,
    and once more to a new process on the same database, is one answer and one charge."""
    settings = with_models(telegram_settings, model_server)
    question = tg.private_text(ALICE, "What is a ledger?")
    for restart in range(2):
        async with core_module.open_core(settings) as real:
            core = TrackingCore(real)
            async with running_bot(core, settings):
                await fake_telegram.push(question, question)
                await fake_telegram.push(tg.private_text(ALICE, "/spend"))  # answered after both, in order
                await core.wait_handled(1)
            charges = await real.services.ledger.db.fetchall(
                "SELECT cost FROM charges WHERE user_id = 'telegram:31'"
            )
        assert [m.text for m in core.handled] == (["/spend"] if restart else ["What is a ledger?", "/spend"])
    answer, spend, spend_after_restart = fake_telegram.shown(31)
    assert 'You asked: "What is a ledger?"' in answer
    assert spend.startswith("Spent $") and spend_after_restart == spend
    assert len(charges) == 1 and charges[0]["cost"] > 0


async def test_a_group_flood_past_the_rate_limit_is_told_once_and_a_bystander_answered(
    fake_telegram: FakeTelegram, telegram_settings: Settings, model_server: str
) -> None:
    """Each line to a group counts against Telegram's 20 a minute there: a flooder past the rate limit is
    told once, then gets nothing more, so the bystander's answer is not queued behind hundreds of lines."""
    settings = with_models(telegram_settings, model_server, rate_limit_per_minute=3)
    async with core_module.open_core(settings) as real:
        core = TrackingCore(real)
        async with running_bot(core, settings):
            await fake_telegram.push(*(tg.group_text(ALICE, "/help") for _ in range(12)))
            await core.wait_handled(12)
            await fake_telegram.push(tg.group_text(BOB, "/spend"))
            await core.wait_handled(13)
    shown = fake_telegram.shown(GROUP_ID)
    assert len(shown) == 5  # three help texts, one refusal, Bob's spend: nothing for the other eight
    assert shown[3] == "Too many requests; try again in 60 s."
    assert shown[4].startswith("Spent $")
