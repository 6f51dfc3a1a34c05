"""The fake Bot API and its update factories, checked on their own before any adapter test trusts them.

A malformed update makes python-telegram-bot retry forever, so every factory is round-tripped through
PTB's own parser: what PTB reads back must be exactly what the factory built.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from telegram import TelegramObject, Update

from tests.fakes import telegram_api as tg
from tests.fakes.telegram_api import BOT_USERNAME, GROUP_ID, TOKEN, FakeTelegram, decode_params, utf16_len

ALICE = tg.user(11, "Alice", "alice")
BOB = tg.user(12, "Bob")


def round_trip(update: dict[str, Any]) -> Update:
    """PTB reads every field the factory wrote, understands all of them, and adds only empty defaults."""
    parsed = Update.de_json(json.loads(json.dumps(update)), None)
    assert not unknown_fields(parsed)
    assert_contains(parsed.to_dict(), update)
    return parsed


def unknown_fields(obj: object, path: str = "update") -> list[str]:
    """Fields PTB did not recognise end up in `api_kwargs`: a misspelt or misplaced key."""
    found = []
    if isinstance(obj, TelegramObject):
        found += [f"{path}.{key}" for key in obj.api_kwargs]
        for klass in type(obj).__mro__:
            for name in getattr(klass, "__slots__", ()):
                found += unknown_fields(getattr(obj, name, None), f"{path}.{name}")
    elif isinstance(obj, tuple | list):
        for index, item in enumerate(obj):
            found += unknown_fields(item, f"{path}[{index}]")
    return sorted(set(found))


def assert_contains(parsed: Any, built: Any, path: str = "update") -> None:
    """Every built value is read back unchanged; anything PTB adds is an empty default."""
    if isinstance(built, dict):
        assert isinstance(parsed, dict), path
        for key, value in built.items():
            assert key in parsed, f"{path}.{key} was dropped"
            assert_contains(parsed[key], value, f"{path}.{key}")
        extra = {k: v for k, v in parsed.items() if k not in built and v not in (False, None, [], {})}
        assert not extra, f"{path} gained {extra}"
    elif isinstance(built, list):
        assert isinstance(parsed, list) and len(parsed) == len(built), path
        for index, (a, b) in enumerate(zip(parsed, built, strict=True)):
            assert_contains(a, b, f"{path}[{index}]")
    else:
        assert parsed == built, f"{path}: {parsed!r} != {built!r}"


def test_private_text_is_a_valid_update() -> None:
    parsed = round_trip(tg.private_text(ALICE, "hello there"))
    assert parsed.effective_chat is not None and parsed.effective_chat.type == "private"
    assert parsed.effective_chat.id == 11 and parsed.effective_user is not None
    assert parsed.effective_user.username == "alice"


def test_commands_carry_a_bot_command_entity() -> None:
    parsed = round_trip(tg.private_text(BOB, "/ask@capbot_test_bot what?"))
    assert parsed.message is not None
    assert list(parsed.message.parse_entities().values()) == ["/ask@capbot_test_bot"]


def test_group_mention_offsets_count_utf16_units() -> None:
    parsed = round_trip(tg.group_text(ALICE, f"😀 hey @{BOT_USERNAME} what is 2+2?"))
    assert parsed.message is not None and parsed.message.chat.type == "supergroup"
    assert list(parsed.message.parse_entities().values()) == [f"@{BOT_USERNAME}"]


def test_group_reply_and_callback_are_valid_updates() -> None:
    answer = tg.message(
        tg.bot_user(), tg.chat(GROUP_ID), "an answer", entities=[{"type": "bold", "offset": 3, "length": 6}]
    )
    answer["reply_markup"] = {"inline_keyboard": [[{"text": "Pick", "callback_data": "cb:1"}]]}
    replying = round_trip(tg.group_text(BOB, "and why?", reply_to=answer))
    assert replying.message is not None and replying.message.reply_to_message is not None
    assert replying.message.reply_to_message.from_user is not None
    assert replying.message.reply_to_message.from_user.id == tg.BOT_ID
    tapped = round_trip(tg.callback(BOB, answer, "cb:1"))
    assert tapped.callback_query is not None and tapped.callback_query.data == "cb:1"
    assert tg.buttons(answer) == [{"text": "Pick", "callback_data": "cb:1"}]


def test_update_ids_increase() -> None:
    first, second = tg.private_text(ALICE, "a"), tg.private_text(ALICE, "b")
    assert second["update_id"] > first["update_id"]
    assert second["message"]["message_id"] > first["message"]["message_id"]


def test_form_values_decode_by_field() -> None:
    decoded = decode_params(
        {
            "chat_id": "-1001",
            "text": "123",
            "entities": '[{"type": "bold", "offset": 0, "length": 1}]',
            "allowed_updates": '["message"]',
            "secret_token": "abc",
        }
    )
    assert decoded == {
        "chat_id": -1001,
        "text": "123",
        "entities": [{"type": "bold", "offset": 0, "length": 1}],
        "allowed_updates": ["message"],
        "secret_token": "abc",
    }
    assert decode_params({"chat_id": "@channel"}) == {"chat_id": "@channel"}
    assert utf16_len("a😀") == 3


async def call(
    session: aiohttp.ClientSession, fake: FakeTelegram, method: str, token: str = TOKEN, **form: str
) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{fake.base_url}{token}/{method}", data=form) as response:
        return response.status, await response.json()


async def test_get_updates_offsets_confirm_earlier_updates(fake_telegram: FakeTelegram) -> None:
    updates = [tg.private_text(ALICE, str(n)) for n in range(3)]
    await fake_telegram.push(*updates)
    ids = [u["update_id"] for u in updates]
    async with aiohttp.ClientSession() as session:
        status, body = await call(session, fake_telegram, "getUpdates")
        assert status == 200 and body["ok"] and [u["update_id"] for u in body["result"]] == ids
        _, body = await call(session, fake_telegram, "getUpdates", offset=str(ids[1]), limit="1")
        assert [u["update_id"] for u in body["result"]] == ids[1:2]
        _, body = await call(session, fake_telegram, "getUpdates")  # the first one is gone for good
        assert [u["update_id"] for u in body["result"]] == ids[1:]
        _, body = await call(session, fake_telegram, "getUpdates", offset=str(ids[2] + 1), timeout="0")
        assert body["result"] == []


async def test_long_poll_wakes_on_a_new_update(fake_telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as session:
        poll = asyncio.create_task(call(session, fake_telegram, "getUpdates", timeout="30"))
        await fake_telegram.wait_for(lambda: bool(fake_telegram.calls_to("getUpdates")), "the poll")
        update = tg.private_text(BOB, "wake up")
        await fake_telegram.push(update)
        async with asyncio.timeout(10):
            _, body = await poll
    assert body["result"] == [update]


async def test_long_poll_wakes_on_shutdown() -> None:
    async with aiohttp.ClientSession() as session:
        fake = FakeTelegram()
        async with fake:
            poll = asyncio.create_task(call(session, fake, "getUpdates", timeout="30"))
            await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")), "the poll")
        async with asyncio.timeout(10):
            status, body = await poll
    assert status == 200 and body == {"ok": True, "result": []}


async def test_messages_edits_and_injected_errors(fake_telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await call(session, fake_telegram, "sendMessage", chat_id="11", text="42")
        assert status == 200 and body["result"]["text"] == "42" and body["result"]["from"]["id"] == tg.BOT_ID
        message_id = str(body["result"]["message_id"])
        status, body = await call(
            session, fake_telegram, "editMessageText", chat_id="11", message_id=message_id, text="42"
        )
        assert status == 400 and "message is not modified" in body["description"]
        status, _ = await call(
            session, fake_telegram, "editMessageText", chat_id="11", message_id=message_id, text="43"
        )
        assert status == 200 and fake_telegram.shown(11) == ["43"]

        fake_telegram.fail("editMessageText", retry_after=3)
        status, body = await call(
            session, fake_telegram, "editMessageText", chat_id="11", message_id=message_id, text="44"
        )
        assert status == 429 and body["parameters"] == {"retry_after": 3} and not body["ok"]

        fake_telegram.reject_entities = True
        bold = json.dumps([{"type": "bold", "offset": 0, "length": 2}])
        status, body = await call(
            session, fake_telegram, "sendMessage", chat_id="11", text="hi", entities=bold
        )
        assert status == 400 and "can't parse entities" in body["description"]

        status, body = await call(session, fake_telegram, "sendMessage", chat_id="11", text="x" * 4097)
        assert status == 400 and body["description"] == "Bad Request: message is too long"
        status, body = await call(session, fake_telegram, "getMe", token="1:wrong")
        assert status == 401 and body["error_code"] == 401
        status, body = await call(session, fake_telegram, "noSuchMethod")
        assert status == 404
    assert [c.method for c in fake_telegram.calls].count("sendMessage") == 3


@pytest.mark.parametrize("content_type", ["json", "form"])
async def test_json_and_form_bodies_are_the_same_call(fake_telegram: FakeTelegram, content_type: str) -> None:
    params = {"chat_id": -5, "text": "007", "reply_parameters": {"message_id": 1}}
    async with aiohttp.ClientSession() as session:
        url = f"{fake_telegram.base_url}{TOKEN}/sendMessage"
        if content_type == "json":
            await session.post(url, json=params)
        else:
            await session.post(
                url, data={"chat_id": "-5", "text": "007", "reply_parameters": '{"message_id": 1}'}
            )
    assert fake_telegram.calls[-1].params == params
    assert fake_telegram.chat_messages(-5)[0]["capbot_reply_to"] == 1


# ---------------------------------------------------------------------- files


def test_media_factories_round_trip() -> None:
    files = tg.FileStore()
    small, large = files.add(b"s"), files.add(b"large")
    parsed = round_trip(
        tg.private_media(ALICE, "what is it?", photo=tg.photo((small, 90, 68), (large, 2560, 1920)))
    )
    assert parsed.message is not None and parsed.message.caption == "what is it?"
    assert [p.width for p in parsed.message.photo] == [90, 2560]
    sound = files.add(b"OggS", folder="voice", suffix="oga")
    round_trip(tg.private_media(ALICE, voice=tg.voice(sound, 7)))
    round_trip(tg.private_media(ALICE, audio=tg.audio(sound, 61)))
    round_trip(tg.private_media(ALICE, document=tg.document(large, "image/png", "chart.png")))
    grouped = round_trip(tg.group_media(ALICE, f"@{BOT_USERNAME} this?", photo=tg.photo((small, 90, 68))))
    assert grouped.message is not None
    assert [e.type for e in grouped.message.caption_entities] == ["mention"]


async def test_get_file_and_download_with_the_token_and_faults() -> None:
    async with FakeTelegram() as fake:
        stored = fake.files.add(b"\xff\xd8 jpeg bytes")
        big = fake.files.add(b"x", size=tg.TELEGRAM_DOWNLOAD_LIMIT + 1)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{fake.base_url}{TOKEN}/getFile", data={"file_id": stored.file_id}) as got:
                result = (await got.json())["result"]
            assert result["file_path"] == stored.path and result["file_size"] == len(stored.data)
            async with http.post(f"{fake.base_url}{TOKEN}/getFile", data={"file_id": big.file_id}) as got:
                assert got.status == 400 and "too big" in (await got.json())["description"]
            url = f"{fake.root}/file/bot{TOKEN}/{stored.path}"
            async with http.get(url) as got:
                assert got.status == 200 and await got.read() == stored.data
            async with http.get(f"{fake.root}/file/botWRONG/{stored.path}") as got:
                assert got.status == 401
            fake.files.fail_download(stored)
            async with http.get(url) as got:
                assert got.status == 500
        assert fake.files.downloads == [stored.file_id, stored.file_id]
