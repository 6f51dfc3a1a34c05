"""The Telegram adapter, driven through the real python-telegram-bot Application against the fake Bot API.

A scripted stand-in core answers here, so each test states exactly what the core says; the tests through
the real core and ledger live in test_end_to_end.py beside this file.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.person_queues import PENDING
from adapters.streaming import CURSOR
from adapters.telegram_bot import reply as telegram_reply
from adapters.telegram_bot import run, utf16_units, webhook_secret
from bot.config import ConfigError, Settings
from bot.incoming import Incoming, Menu, MenuGroup, MenuItem, Reply
from bot.refusals import QueueFull
from bot.startup import PlatformUnreachable
from bot.wording import UNEXPECTED, refusal
from tests.doubles import TrackingCore, streaming_script
from tests.fakes import telegram_api as tg
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, GROUP_ID, LIMIT, TOKEN, FakeTelegram
from tests.fakes.telegram_fixtures import ScriptedCore, running_bot

ALICE = tg.user(21, "Alice", "alice")
BOB = tg.user(22, "Bob", "bob")


def streaming(*deltas: str) -> TrackingCore:
    return TrackingCore(ScriptedCore(streaming_script(*deltas)))


def saying(line: str) -> TrackingCore:
    async def script(incoming: Incoming, reply: Reply) -> None:
        await reply.text(line)

    return TrackingCore(ScriptedCore(script))


def sent_texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [c.params["text"] for c in fake.calls_to("sendMessage") if c.params["chat_id"] == chat_id]


async def test_private_text_is_a_question_streamed_with_typing(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = streaming("Hello", ", ", "**Alice**", "!")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "hi there"))
        (seen,) = await core.wait_handled(1)
    (draft_id,) = {int(d["draft_id"]) for d in fake_telegram.drafts[21]}  # one draft per answer
    assert seen == Incoming(
        user="telegram:21",
        conversation="telegram:21:21",
        text="hi there",
        direct=True,
        private=True,  # a private chat: the one place a link code may be shown
        username="@alice",
        display_name="Alice",
        stop=f"draft:21:{draft_id}",  # Telegram's stop on the draft names the answer by chat and draft
    )
    (answer,) = fake_telegram.chat_messages(21)
    assert answer["text"] == "Hello, Alice!"
    assert answer["entities"] == [{"type": "bold", "offset": 7, "length": 5}]
    assert answer["history"] == ["Hello, Alice!"]  # persisted by one sendMessage, never edited
    drafted = fake_telegram.drafted(21)
    assert len(drafted) >= 2 and all(d.endswith(CURSOR.strip()) for d in drafted)  # streamed as drafts
    assert not fake_telegram.calls_to("sendChatAction")  # its first text came within a second
    assert "parse_mode" not in fake_telegram.calls_to("sendMessage")[0].params


@pytest.mark.parametrize("answer", ["streamed", "lines"])
async def test_typing_is_renewed_until_the_first_message_and_never_after(
    fake_telegram: FakeTelegram, telegram_settings: Settings, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    monkeypatch.setattr(telegram_reply, "TYPING_EVERY", 0.001)  # renewed as fast as the fake answers
    monkeypatch.setattr(telegram_reply, "TYPING_AFTER", 0.001)
    fake_telegram.refuse_drafts.add(21)  # "typing…" rather than a "Thinking…" draft

    def actions() -> int:
        return len(fake_telegram.calls_to("sendChatAction"))

    async def script(incoming: Incoming, reply: Reply) -> None:
        await fake_telegram.wait_for(lambda: actions() >= 3, "typing renewed while the model is silent")
        if answer == "lines":  # a refusal, /spend in a private chat: no streaming
            for n in range(10):
                await reply.text(f"line {n}")
            return
        async with reply.stream() as out:
            for n in range(20):
                await out.write(f"word{n} ")
                await out.drain()

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "think hard"))
        await core.wait_handled(1)
    methods = [c.method for c in fake_telegram.calls if c.params.get("chat_id") == 21]
    first = methods.index("sendMessage")
    assert methods[:first].count("sendChatAction") >= 3
    assert "sendChatAction" not in methods[first:]  # Telegram clears "typing…" when the answer arrives
    assert len(methods[first:]) >= 10  # the answer went on (edits, more lines) without another action


async def test_commands_registered_for_everyone_and_telegram_owners(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    settings = telegram_settings.model_copy(update={"owner_ids": ("telegram:21", "discord:5")})
    async with running_bot(saying("hi"), settings):
        pass
    everyone = fake_telegram.commands['{"type": "default"}']
    assert [c["command"] for c in everyone] == ["start", "help", "ask", "model", "spend", "new"]
    owner = fake_telegram.commands['{"chat_id": 21, "type": "chat"}']
    assert [c["command"] for c in owner][-1] == "cap"  # "Bad-Name" is not a valid Telegram command
    assert len(fake_telegram.commands) == 2
    polls = fake_telegram.calls_to("getUpdates")
    assert polls and polls[0].params["allowed_updates"] == [
        "message",
        "callback_query",
        "stopped_message_generation",
    ]
    assert fake_telegram.calls_to("deleteWebhook")[0].params.get("drop_pending_updates") in (None, False)


async def test_group_answers_commands_mentions_and_replies_and_ignores_chatter(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = saying("an answer")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(
            tg.group_text(ALICE, "just chatting"),
            tg.group_text(ALICE, "/ask@capbot_test_bot what is 2+2?"),
            tg.group_text(ALICE, "/ask@other_bot ignore me"),
            tg.group_text(ALICE, "/weather for another bot"),
            tg.group_text(ALICE, f"hey @{BOT_USERNAME}  explain   "),
            tg.group_text(ALICE, "/spend"),
        )
        await core.wait_handled(3)
        answer = fake_telegram.chat_messages(GROUP_ID)[0]
        await fake_telegram.push(
            tg.group_text(BOB, "and why?", reply_to=answer),
            tg.group_text(BOB, "not to the bot", reply_to=tg.message(ALICE, tg.chat(GROUP_ID), "x")),
            tg.group_text(BOB, f"@{BOT_USERNAME}"),
        )
        handled = await core.wait_handled(5)
    # Alice's messages are handled in order, so the ignored ones came and went before her /spend.
    assert [(m.user, m.text, m.direct) for m in handled] == [
        ("telegram:21", "/ask@capbot_test_bot what is 2+2?", False),
        ("telegram:21", "hey   explain", True),
        ("telegram:21", "/spend", False),
        ("telegram:22", "and why?", True),
        ("telegram:22", "", True),  # a bare mention: the core answers it with help
    ]
    assert (
        handled[3].reply_to_user == f"telegram:{BOT_ID}"
        and handled[3].conversation == f"telegram:{GROUP_ID}:22"
    )
    replies = [m["capbot_reply_to"] for m in fake_telegram.chat_messages(GROUP_ID)]
    assert len(replies) == 5 and all(
        isinstance(r, int) for r in replies
    )  # each answer replies to its question


async def test_long_answer_split_within_the_limit_in_utf16_units(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    paragraph = "Emoji count twice in UTF-16: 😀😀😀 and **bold** words. " * 20
    words = [paragraph[:500], paragraph[500:] + "\n\n"] * 12  # deltas of a few hundred characters
    core = streaming(*words)
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(BOB, "a long one please"))
        await core.wait_handled(1)
    shown = fake_telegram.chat_messages(22)
    assert len(shown) >= 3
    for message in shown:
        assert 0 < utf16_units(message["text"]) <= LIMIT
        assert all(
            e["offset"] + e["length"] <= utf16_units(message["text"]) for e in message.get("entities", [])
        )
        assert CURSOR.strip() not in message["text"]
    total = "".join(m["text"] for m in shown).replace("\n", "").replace(" ", "")
    assert total == "".join(words).replace("**", "").replace("\n", "").replace(" ", "")
    # more characters than one message holds, but fewer than 4096 emoji-free characters would suggest
    assert sum(len(m["text"]) for m in shown) > LIMIT


async def test_rejected_formatting_is_sent_as_plain_text(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    fake_telegram.reject_entities = True
    core = streaming("Some ", "**bold**", " claim")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "format this"))
        await core.wait_handled(1)
    (answer,) = fake_telegram.chat_messages(21)
    assert answer["text"] == "Some **bold** claim" and "entities" not in answer
    refused = [c for c in fake_telegram.calls if c.params.get("entities")]
    assert refused  # formatting was tried first


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own RetryAfter
async def test_flood_control_on_an_edit_skips_progress_but_delivers_the_final_text(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    fake_telegram.fail("editMessageText", retry_after=1)  # only the first edit; the token then waits 1 s
    fake_telegram.refuse_drafts.add(21)  # sent and edited
    core = streaming(*(f"word{n} " for n in range(30)))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "go"))
        await core.wait_handled(1)
    edits = fake_telegram.calls_to("editMessageText")
    whole = "".join(f"word{n} " for n in range(30)).strip()
    assert edits[0].params["text"].endswith(CURSOR.strip())  # the refused progress edit
    assert not edits[-1].params["text"].endswith(CURSOR.strip())  # the final text, after the pause
    assert fake_telegram.shown(21) == [whole]


async def test_two_people_at_once_neither_waits_for_the_other(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    release_alice = asyncio.Event()

    async def script(incoming: Incoming, reply: Reply) -> None:
        if incoming.user == "telegram:21" and incoming.text == "slow":
            await release_alice.wait()
        await reply.text(f"answer to {incoming.text}")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(
            tg.private_text(ALICE, "slow"), tg.private_text(ALICE, "second"), tg.private_text(BOB, "quick")
        )
        # Bob is answered while Alice's first answer is still blocked...
        await fake_telegram.wait_for(lambda: fake_telegram.shown(22) == ["answer to quick"], "Bob's answer")
        # ...and Alice's second message, which came before Bob's, has not started: it waits for her first.
        assert [m.text for m in core.started] == ["slow", "quick"]
        release_alice.set()
        await core.wait_handled(3)
    assert [m.text for m in core.handled] == ["quick", "slow", "second"]
    assert fake_telegram.shown(21) == ["answer to slow", "answer to second"]


async def test_a_flood_from_one_person_holds_up_no_one_else(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    """300 questions from Alice while her first answer is stuck: Bob's /spend is answered while her flood
    is still queued; her queue keeps PENDING of them, and the rest are dropped with one notice."""
    release_alice = asyncio.Event()

    async def script(incoming: Incoming, reply: Reply) -> None:
        if incoming.text == "q0":
            await release_alice.wait()
        await reply.text(f"answer to {incoming.text}")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, telegram_settings):
        try:
            await fake_telegram.push(*(tg.private_text(ALICE, f"q{n}") for n in range(300)))
            await fake_telegram.push(tg.private_text(BOB, "/spend"))
            await fake_telegram.wait_for(lambda: fake_telegram.shown(22) == ["answer to /spend"], "Bob")
            assert [m.text for m in core.started if m.user == "telegram:21"] == ["q0"]  # the rest queued
            await fake_telegram.wait_for(lambda: len(fake_telegram.shown(21)) == 1, "the one drop notice")
        finally:
            release_alice.set()  # a failure above must not leave the Application waiting on stop
        await core.wait_handled(1 + 1 + PENDING)
    notice, *answers = fake_telegram.shown(21)
    assert notice == refusal(QueueFull(PENDING), datetime.now(UTC))
    assert answers == [f"answer to q{n}" for n in range(1 + PENDING)]  # in order; the rest dropped
    assert len(core.handled) == 1 + 1 + PENDING


MENU = Menu(
    "Current model: a/one. Pick one:",
    (
        MenuGroup("Provider A", (MenuItem("a/one — $1/$2 per 1M in/out ✓", "/model a/one"),)),
        MenuGroup(
            "Provider B",
            tuple(MenuItem(f"b/{'x' * 80}-{n}", f"/model b/{'x' * 80}-{n}") for n in range(3)),
        ),
    ),
)


async def test_menu_keyboard_tap_runs_the_command_and_confirms(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    async def script(incoming: Incoming, reply: Reply) -> None:
        if incoming.text == "/model":
            await reply.menu(MENU)
        else:
            await reply.text(f"Model set to {incoming.text.removeprefix('/model ')}.")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "/model"))
        await core.wait_handled(1)
        (menu,) = fake_telegram.chat_messages(21)
        assert menu["text"] == MENU.title
        assert [b["text"] for b in tg.buttons(menu)] == ["Provider A", "Provider B"]

        await fake_telegram.push(tg.callback(ALICE, menu, tg.buttons(menu)[1]["callback_data"]))
        await fake_telegram.wait_for(
            lambda: len(tg.buttons(fake_telegram.chat_messages(21)[0])) == 4, "models"
        )
        menu = fake_telegram.chat_messages(21)[0]
        models = tg.buttons(menu)
        assert models[-1]["text"] == "« Providers"
        assert all(len(b["callback_data"].encode()) <= 64 for b in models)

        await fake_telegram.push(tg.callback(BOB, menu, models[2]["callback_data"]))  # not Bob's menu
        await fake_telegram.push(tg.callback(ALICE, menu, models[2]["callback_data"]))
        await core.wait_handled(2)
        await fake_telegram.wait_for(
            lambda: len(fake_telegram.calls_to("answerCallbackQuery")) == 3, "answers"
        )
    chosen = f"b/{'x' * 80}-2"
    assert core.handled[1].text == f"/model {chosen}" and core.handled[1].user == "telegram:21"
    (confirmed,) = fake_telegram.chat_messages(21)
    assert confirmed["text"] == f"Model set to {chosen}." and "reply_markup" not in confirmed
    answers = [c.params.get("text") for c in fake_telegram.calls_to("answerCallbackQuery")]
    assert answers[1] == "This menu belongs to someone else; send /model for your own."
    assert answers[2] == f"Model set to {chosen}."


async def test_a_tap_on_a_forgotten_menu_asks_for_a_new_one(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    core = saying("unused")
    stale = tg.message(tg.bot_user(), tg.chat(21), "old menu")
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.callback(ALICE, stale, "cb:ffff"))
        await fake_telegram.wait_for(
            lambda: bool(fake_telegram.calls_to("answerCallbackQuery")), "the answer"
        )
    (answered,) = fake_telegram.calls_to("answerCallbackQuery")
    assert answered.params["text"] == "This menu has expired; send /model again."
    assert core.started == []


async def test_an_unexpected_failure_is_one_short_line(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    async def script(incoming: Incoming, reply: Reply) -> None:
        raise RuntimeError("secret detail sk-live-123")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, telegram_settings):
        await fake_telegram.push(tg.private_text(ALICE, "boom"))
        await core.wait_handled(1)
        await fake_telegram.wait_for(lambda: bool(fake_telegram.shown(21)), "the apology")
    assert fake_telegram.shown(21) == [UNEXPECTED]


async def test_webhook_mode_checks_the_secret_token(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    settings = telegram_settings.model_copy(update={"telegram_webhook_url": "https://bot.example.com"})
    core = saying("via webhook")
    secret = webhook_secret(TOKEN)
    async with running_bot(core, settings) as bot, aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{bot.webhook_port}/telegram/webhook"
        update = tg.private_text(ALICE, "over the webhook")
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with session.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with session.post(url, data=b"{not json", headers=headers) as response:
            assert response.status == 400
        async with session.post(url, data=json.dumps(update), headers=headers) as response:
            assert response.status == 200
        await core.wait_handled(1)
    assert [m.text for m in core.handled] == ["over the webhook"]
    assert fake_telegram.shown(21) == ["via webhook"]
    (registered,) = fake_telegram.calls_to("setWebhook")
    assert registered.params["url"] == "https://bot.example.com/telegram/webhook"
    assert registered.params["secret_token"] == secret and TOKEN not in secret
    assert registered.params["allowed_updates"] == ["message", "callback_query", "stopped_message_generation"]
    assert not fake_telegram.calls_to("getUpdates")


async def test_a_rejected_token_stops_start_up_with_one_line(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    settings = telegram_settings.model_copy(update={"telegram_bot_token": SecretStr("42:not-the-token")})
    with pytest.raises(ConfigError) as raised:
        await run(saying("never"), settings)
    assert str(raised.value) == "TELEGRAM_BOT_TOKEN: Telegram rejected the token"
    assert [c.method for c in fake_telegram.calls] == ["getMe"]


async def test_an_unreachable_bot_api_stops_start_up_with_one_line(telegram_settings: Settings) -> None:
    async with FakeTelegram() as gone:
        closed = gone.base_url  # nothing listens there once the block ends
    settings = telegram_settings.model_copy(update={"telegram_base_url": closed})
    with pytest.raises(PlatformUnreachable) as raised:
        await run(saying("never"), settings)
    host = closed.removeprefix("http://").split("/")[0]
    line = str(raised.value)
    assert line.startswith(f"cannot reach Telegram at {host} (") and "\n" not in line
    assert line.endswith(f"; TELEGRAM_BASE_URL is set to {closed}: check it")  # set, so maybe the cause
    assert TOKEN not in line


async def test_a_refused_webhook_url_stops_start_up_with_one_line(
    fake_telegram: FakeTelegram, telegram_settings: Settings
) -> None:
    settings = telegram_settings.model_copy(update={"telegram_webhook_url": "http://bot.example.com/hook"})
    fake_telegram.fail(
        "setWebhook", status=400, description="Bad Request: bad webhook: HTTPS url must be provided"
    )
    with pytest.raises(ConfigError) as raised:
        async with running_bot(saying("never"), settings):
            pass
    line = str(raised.value)
    assert line.startswith("TELEGRAM_WEBHOOK_URL: Telegram refused http://bot.example.com/hook: BadRequest")
    assert "https url must be provided" in line.lower() and "\n" not in line
