"""The Discord adapter, driven through the real discord.py client against the fake Discord.

A scripted stand-in core answers here, so each test states exactly what the core says; the tests through
the real core and ledger live in test_end_to_end.py beside this file, the in-memory simcord ones in
test_simcord.py.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from adapters import discord_bot
from adapters.discord_bot import LIMIT, PLACEHOLDER
from adapters.discord_bot.replies import NO_DM, SENT_DM
from adapters.person_queues import PENDING
from adapters.streaming import CURSOR
from bot.commands import BY_NAME
from bot.config import ConfigError, Settings
from bot.incoming import Incoming, Menu, MenuGroup, MenuItem, Reply
from bot.refusals import QueueFull
from bot.startup import PlatformUnreachable
from bot.wording import UNEXPECTED, refusal
from tests.doubles import TrackingCore, streaming_script
from tests.fakes.discord_api import (
    APP_ID,
    BOT_ROLE_ID,
    CHANNEL_ID,
    DM_BASE,
    EPHEMERAL,
    GUILD_ID,
    MESSAGE_CONTENT_INTENT,
    TOKEN,
    FakeDiscord,
)
from tests.fakes.discord_fixtures import ScriptedCore, running_bot

DM_CHANNEL = 940_000_000_000_000_001


def streaming(*deltas: str) -> ScriptedCore:
    return ScriptedCore(streaming_script(*deltas))


def saying(line: str, *, private: bool = False) -> ScriptedCore:
    async def script(incoming: Incoming, reply: Reply) -> None:
        await reply.text(line, private=private)

    return ScriptedCore(script)


async def test_commands_are_synced_to_the_configured_guild(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    async with running_bot(TrackingCore(saying("hi")), discord_settings, fake_discord):
        pass
    assert None not in fake_discord.commands  # nothing global when DISCORD_GUILD_IDS is set
    synced = {c["name"]: c for c in fake_discord.commands[GUILD_ID]}
    assert set(synced) == {"ask", "model", "spend", "new", "help", "cap"}  # not /start, Telegram's greeting
    for name, command in synced.items():  # worded once, where the core declares the command
        declared = BY_NAME[name]
        assert command["description"] == declared.summary
        options = [(o["name"], o["description"]) for o in command["options"]]
        declares = [a for a in (declared.argument, declared.file) if a is not None]
        assert options == [(a.name, a.description) for a in declares]
    # /ask takes an image or a recording beside its text (type 11, ATTACHMENT); either may be the
    # question, so neither is required
    assert [(o["name"], o["type"], o["required"]) for o in synced["ask"]["options"]] == [
        ("prompt", 3, False),
        ("attachment", 11, False),
    ]
    assert [(o["name"], o["required"]) for o in synced["model"]["options"]] == [("model", False)]
    assert synced["model"]["options"][0]["autocomplete"] is True
    assert [(o["name"], o["required"]) for o in synced["cap"]["options"]] == [("arguments", False)]
    assert synced["cap"]["default_member_permissions"] in (8, "8")  # owner commands: admins see them
    assert synced["spend"]["default_member_permissions"] is None
    assert int(fake_discord.identifies[0]["intents"]) & MESSAGE_CONTENT_INTENT


async def test_commands_are_synced_globally_without_guild_ids(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    settings = discord_settings.model_copy(update={"discord_guild_ids": ()})
    async with running_bot(TrackingCore(saying("hi")), settings, fake_discord):
        pass
    assert list(fake_discord.commands) == [None]
    assert any(c.path == f"/applications/{APP_ID}/commands" for c in fake_discord.calls)


async def test_ask_is_deferred_publicly_and_streamed_into_the_response(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(streaming("Paris ", "is the ", "capital."))
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        alice = fake_discord.user(11, "alice")
        event = fake_discord.slash(alice, "ask", {"prompt": "capital of France?"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        (incoming,) = await core.wait_handled(1)
    token = event["token"]
    assert incoming == Incoming(
        user="discord:11",
        conversation=f"discord:{CHANNEL_ID}:11",
        text="/ask capital of France?",
        direct=False,
        username="@alice",
        display_name="Alice",
        language="en-US",  # the interaction's locale: the person's client language
    )
    calls = fake_discord.for_token(token)
    assert (
        calls[0].path == f"/interactions/{event['id']}/{token}/callback"
    )  # acknowledged before anything else
    assert calls[0].body == {"type": 5}  # deferred, public
    edits = [c.content for c in fake_discord.original_edits(token)]
    assert edits[0] == "Paris " + CURSOR
    assert all(e is not None and e.endswith(CURSOR) for e in edits[:-1])  # progress, marked as unfinished
    assert edits[-1] == "Paris is the capital."
    assert fake_discord.followups(token) == []
    assert fake_discord.shown(token) == ["Paris is the capital."]


async def test_an_answer_over_2000_characters_continues_in_followups(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    paragraphs = [f"Paragraph {i}: " + " ".join(f"word{i}-{j}" for j in range(60)) for i in range(12)]
    answer = (
        "\n\n".join(paragraphs) + "\n\n```python\n" + "\n".join(f"x{i} = {i}" for i in range(150)) + "\n```"
    )
    assert len(answer) > 3 * LIMIT
    deltas = [answer[i : i + 97] for i in range(0, len(answer), 97)]
    core = TrackingCore(streaming(*deltas))
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        event = fake_discord.slash(fake_discord.user(12, "bob"), "ask", {"prompt": "long please"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await core.wait_handled(1)
    token = event["token"]
    shown = fake_discord.shown(token)
    assert len(shown) >= 3
    assert all(len(chunk) <= LIMIT for chunk in shown)
    assert all(call.flags & EPHEMERAL == 0 for call in fake_discord.followups(token))
    assert not any(CURSOR in chunk for chunk in shown)
    assert _unfenced(shown).split() == answer.split()  # nothing lost, nothing added
    assert "".join(shown).count("```") % 2 == 0  # every chunk renders its code fence on its own


def _unfenced(chunks: list[str]) -> str:
    """Undo the fence a split closes at a chunk's end and reopens at the next chunk's start."""
    out = []
    for i, chunk in enumerate(chunks):
        if i and chunk.startswith("```") and chunks[i - 1].endswith("\n```"):
            chunk = chunk.split("\n", 1)[1]
        if i < len(chunks) - 1 and chunk.endswith("\n```") and chunks[i + 1].startswith("```"):
            chunk = chunk[: -len("```")]
        out.append(chunk)
    return "\n".join(out)


async def test_a_private_refusal_to_ask_is_ephemeral(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    refusal = "You have reached your cap of $1.00 this month; it resets 2026-12-01 00:00 UTC (in 8 days)."
    core = TrackingCore(saying(refusal, private=True))
    async with running_bot(core, discord_settings, fake_discord):
        event = fake_discord.slash(fake_discord.user(13, "carol"), "ask", {"prompt": "hello"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await core.wait_handled(1)
    token = event["token"]
    calls = fake_discord.for_token(token)
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in calls] == [
        ("POST", "callback"),  # deferred publicly: /ask answers are for the channel
        ("PATCH", "@original"),  # the public placeholder is completed...
        ("DELETE", "@original"),  # ...and withdrawn
        ("POST", token),  # the refusal goes to the asker alone
    ]
    assert calls[1].content == PLACEHOLDER
    assert calls[3].content == refusal
    assert calls[3].flags & EPHEMERAL
    assert fake_discord.shown(token) == [refusal]


async def test_other_commands_are_deferred_ephemerally(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(saying("You have spent $0.0012 of $1.00 this month."))
    async with running_bot(core, discord_settings, fake_discord):
        events = [
            fake_discord.slash(fake_discord.user(14, "dan"), "spend"),
            fake_discord.slash(fake_discord.user(14, "dan"), "model", {"model": "prov1/model-12"}),
            fake_discord.slash(fake_discord.user(14, "dan"), "new"),
            fake_discord.slash(fake_discord.user(14, "dan"), "cap", {"arguments": "@erin 5"}),
        ]
        for event in events:
            await fake_discord.dispatch("INTERACTION_CREATE", event)
        handled = await core.wait_handled(4)
    assert sorted(i.text for i in handled) == sorted(
        ["/spend", "/model prov1/model-12", "/new", "/cap @erin 5"]
    )
    for event in events:
        (callback,) = fake_discord.callbacks(event["token"])
        assert callback.body == {"type": 5, "data": {"flags": EPHEMERAL}}
        assert fake_discord.shown(event["token"]) == ["You have spent $0.0012 of $1.00 this month."]


async def test_model_autocomplete_offers_at_most_25_priced_matches(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(saying("unused"))
    async with running_bot(core, discord_settings, fake_discord):
        user = fake_discord.user(15, "fay")
        everything = fake_discord.autocomplete(user, "model", "model", "")
        typed = fake_discord.autocomplete(user, "model", "model", "PROV2/")
        await fake_discord.dispatch("INTERACTION_CREATE", everything)
        await fake_discord.dispatch("INTERACTION_CREATE", typed)
        await fake_discord.wait_for(
            lambda: bool(
                fake_discord.callbacks(everything["token"]) and fake_discord.callbacks(typed["token"])
            ),
            "two autocomplete answers",
        )
    (all_answer,) = fake_discord.callbacks(everything["token"])
    assert all_answer.body["type"] == 8
    choices = all_answer.body["data"]["choices"]
    assert len(choices) == 25  # the core offered 40
    (typed_answer,) = fake_discord.callbacks(typed["token"])
    filtered = typed_answer.body["data"]["choices"]
    assert [c["value"] for c in filtered] == [f"prov2/model-{i}" for i in range(20, 30)]
    assert all(c["name"].startswith(c["value"] + " — $") for c in filtered)  # prices shown
    assert core.handled == []  # typing is not a command


async def test_a_mention_in_a_channel_is_answered_in_the_channel(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(streaming("Four", "."))
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        gil = fake_discord.user(16, "gil")
        chatter = fake_discord.message(gil, "lunch anyone?")
        question = fake_discord.message(gil, f"<@{APP_ID}> what is 2+2?", mentions=[fake_discord.bot])
        await fake_discord.dispatch("MESSAGE_CREATE", chatter)
        await fake_discord.dispatch("MESSAGE_CREATE", question)
        (incoming,) = await core.wait_handled(1)
    assert incoming.text == "what is 2+2?"
    assert incoming.direct and incoming.user == "discord:16"
    assert incoming.conversation == f"discord:{CHANNEL_ID}:16"
    (post,) = fake_discord.channel_posts()
    assert str(post.body["message_reference"]["message_id"]) == question["id"]  # a reply to the question
    assert post.body["allowed_mentions"] == {"parse": []}  # the answer pings nobody
    final = fake_discord.messages[max(fake_discord.messages)]
    assert final["content"] == "Four."


async def test_a_reply_to_the_bot_is_a_question(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(saying("Sure."))
    async with running_bot(core, discord_settings, fake_discord):
        hal = fake_discord.user(17, "hal")
        earlier = fake_discord.message(fake_discord.bot, "Paris.")
        followup = fake_discord.message(hal, "and Spain?", replying_to=earlier)
        await fake_discord.dispatch("MESSAGE_CREATE", followup)
        (incoming,) = await core.wait_handled(1)
    assert incoming.text == "and Spain?"
    assert incoming.reply_to_user == f"discord:{APP_ID}"
    assert [c.content for c in fake_discord.channel_posts()] == ["Sure."]


async def test_a_direct_message_is_answered_in_the_dm(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(streaming("Hello ", "Ivy!"))
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        ivy = fake_discord.user(18, "ivy")
        await fake_discord.dispatch(
            "MESSAGE_CREATE", fake_discord.message(ivy, "hi there", channel=DM_CHANNEL)
        )
        (incoming,) = await core.wait_handled(1)
    assert incoming == Incoming(
        user="discord:18",
        conversation=f"discord:{DM_CHANNEL}:18",
        text="hi there",
        direct=True,
        private=True,  # a DM: the one place a link code may be shown
        username="@ivy",
        display_name="Ivy",
    )
    (post,) = fake_discord.channel_posts(DM_CHANNEL)
    edits = [
        c for c in fake_discord.calls if c.method == "PATCH" and c.path.startswith(f"/channels/{DM_CHANNEL}/")
    ]
    assert post.content == "Hello " + CURSOR
    assert edits[-1].content == "Hello Ivy!"


async def test_two_people_asking_at_once_each_get_their_own_answer(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    both_started = asyncio.Event()
    started: list[str] = []

    async def script(incoming: Incoming, reply: Reply) -> None:
        started.append(incoming.user)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()  # neither finishes before the other has begun
        async with reply.stream() as out:
            await out.write(f"Answer for {incoming.display_name}")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, discord_settings, fake_discord):
        jo = fake_discord.slash(fake_discord.user(19, "jo"), "ask", {"prompt": "one"})
        kim = fake_discord.slash(fake_discord.user(20, "kim"), "ask", {"prompt": "two"})
        await fake_discord.dispatch("INTERACTION_CREATE", jo)
        await fake_discord.dispatch("INTERACTION_CREATE", kim)
        handled = await core.wait_handled(2)
    assert {i.conversation for i in handled} == {f"discord:{CHANNEL_ID}:19", f"discord:{CHANNEL_ID}:20"}
    assert fake_discord.shown(jo["token"]) == ["Answer for Jo"]
    assert fake_discord.shown(kim["token"]) == ["Answer for Kim"]


async def test_a_flood_of_messages_from_one_person_holds_up_no_one_else(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    """300 DMs from Lee while his first answer is stuck: Max's /spend is answered while Lee's flood is
    still queued; Lee's queue keeps PENDING of them, and the rest are dropped with one notice."""
    release_lee = asyncio.Event()

    async def script(incoming: Incoming, reply: Reply) -> None:
        if incoming.text == "q0":
            await release_lee.wait()
        await reply.text(f"answer to {incoming.text}")

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, discord_settings, fake_discord):
        try:
            lee = fake_discord.user(21, "lee")
            for n in range(300):
                await fake_discord.dispatch(
                    "MESSAGE_CREATE", fake_discord.message(lee, f"q{n}", channel=DM_CHANNEL)
                )
            spend = fake_discord.slash(fake_discord.user(22, "max"), "spend")
            await fake_discord.dispatch("INTERACTION_CREATE", spend)
            await fake_discord.wait_for(
                lambda: fake_discord.shown(spend["token"]) == ["answer to /spend"], "Max"
            )
            assert [m.text for m in core.started if m.user == "discord:21"] == ["q0"]  # the rest still queued
            await fake_discord.wait_for(lambda: len(fake_discord.posted(DM_CHANNEL)) == 1, "the drop notice")
        finally:
            release_lee.set()  # a failure above must not leave the client waiting on close
        await core.wait_handled(1 + 1 + PENDING)
    notice, *answers = fake_discord.posted(DM_CHANNEL)
    assert notice == refusal(QueueFull(PENDING), datetime.now(UTC))
    assert answers == [f"answer to q{n}" for n in range(1 + PENDING)]


async def test_a_replayed_message_or_interaction_is_answered_once(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(saying("an answer"))
    async with running_bot(core, discord_settings, fake_discord):
        ned = fake_discord.user(23, "ned")
        dm = fake_discord.message(ned, "hello", channel=DM_CHANNEL)
        ask = fake_discord.slash(ned, "ask", {"prompt": "hi"})
        for event, payload in [("MESSAGE_CREATE", dm), ("INTERACTION_CREATE", ask)] * 2:
            await fake_discord.dispatch(event, payload)
        await fake_discord.dispatch("MESSAGE_CREATE", fake_discord.message(ned, "after", channel=DM_CHANNEL))
        await core.wait_handled(3)
    # an interaction joins its person's queue once deferred, so it may come after a later message
    assert sorted(m.text for m in core.handled) == ["/ask hi", "after", "hello"]
    assert fake_discord.posted(DM_CHANNEL) == ["an answer", "an answer"]
    assert len(fake_discord.callbacks(ask["token"])) == 1


async def test_a_command_answered_with_silence_leaves_no_thinking_behind(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    """A silent refusal (a flood past the rate limit) says nothing: the deferred response is withdrawn."""

    async def script(incoming: Incoming, reply: Reply) -> None:
        pass

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, discord_settings, fake_discord):
        event = fake_discord.slash(fake_discord.user(24, "oz"), "spend")
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        await fake_discord.wait_for(lambda: len(fake_discord.for_token(event["token"])) == 2, "withdrawn")
    calls = fake_discord.for_token(event["token"])
    assert [(c.method, c.path.rsplit("/", 1)[-1]) for c in calls] == [
        ("POST", "callback"),
        ("DELETE", "@original"),
    ]


async def test_a_menu_is_sent_as_text(fake_discord: FakeDiscord, discord_settings: Settings) -> None:
    menu = Menu("Current model: a/b.", (MenuGroup("Prov", (MenuItem("a/b — $1/$2", "/model a/b"),)),))

    async def script(incoming: Incoming, reply: Reply) -> None:
        await reply.menu(menu)

    core = TrackingCore(ScriptedCore(script))
    async with running_bot(core, discord_settings, fake_discord):
        event = fake_discord.slash(fake_discord.user(21, "lee"), "model")
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        (incoming,) = await core.wait_handled(1)
    assert incoming.text == "/model"
    assert fake_discord.shown(event["token"]) == [menu.as_text()]


async def test_a_failure_is_one_log_line_and_one_private_apology(
    fake_discord: FakeDiscord, discord_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(incoming: Incoming, reply: Reply) -> None:
        raise RuntimeError("database exploded\nwith a second line")

    core = TrackingCore(ScriptedCore(script))
    with caplog.at_level(logging.WARNING, logger="adapters.discord_bot"):
        async with running_bot(core, discord_settings, fake_discord):
            event = fake_discord.slash(fake_discord.user(22, "max"), "spend")
            await fake_discord.dispatch("INTERACTION_CREATE", event)
            await core.wait_handled(1)
            await fake_discord.wait_for(lambda: bool(fake_discord.shown(event["token"])), "the apology")
    assert fake_discord.shown(event["token"]) == [UNEXPECTED]
    (record,) = [r for r in caplog.records if r.name == "adapters.discord_bot"]
    assert record.exc_info is None
    assert (
        record.getMessage()
        == "discord: unexpected error answering discord:22: RuntimeError: database exploded"
    )
    assert TOKEN not in caplog.text


async def test_run_falls_back_without_the_message_content_intent(discord_settings: Settings) -> None:
    async with FakeDiscord(refuse_message_content=True) as fake:
        settings = discord_settings.model_copy(
            update={"discord_api_base_url": fake.api_base, "discord_gateway_url": fake.gateway_url}
        )
        task = asyncio.create_task(discord_bot.run(TrackingCore(saying("hi")), settings))
        await fake.wait_for(lambda: len(fake.identifies) == 2, "a second IDENTIFY")
        await fake.connected()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    first, second = (int(i["intents"]) for i in fake.identifies)
    assert first & MESSAGE_CONTENT_INTENT and not second & MESSAGE_CONTENT_INTENT


async def test_run_reports_a_rejected_token_in_one_line(discord_settings: Settings) -> None:
    async with FakeDiscord(token="the-right-token") as fake:
        settings = discord_settings.model_copy(update={"discord_api_base_url": fake.api_base})
        with pytest.raises(ConfigError, match=r"^DISCORD_BOT_TOKEN: Discord rejected the token$"):
            await discord_bot.run(TrackingCore(saying("hi")), settings)


async def test_an_unreachable_discord_is_one_line(discord_settings: Settings) -> None:
    async with FakeDiscord() as fake:
        gone = fake.api_base  # the server stops when the block ends
    settings = discord_settings.model_copy(update={"discord_api_base_url": gone})
    with pytest.raises(
        PlatformUnreachable,
        match=r"^cannot reach Discord at 127\.0\.0\.1:\d+ \(.+\); DISCORD_API_BASE_URL is set to "
        r"http://127\.0\.0\.1:\d+/api/v10: check it$",
    ):
        await discord_bot.run(TrackingCore(saying("hi")), settings)


async def test_a_mention_of_the_bots_role_and_a_bare_mention(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(saying("ok"))
    async with running_bot(core, discord_settings, fake_discord):
        kit = fake_discord.user(23, "kit")
        by_role = fake_discord.message(kit, f"<@&{BOT_ROLE_ID}> tell me a joke")
        by_role["mention_roles"] = [str(BOT_ROLE_ID)]
        bare = fake_discord.message(kit, f"<@!{APP_ID}>", mentions=[fake_discord.bot])
        await fake_discord.dispatch("MESSAGE_CREATE", by_role)
        await fake_discord.dispatch("MESSAGE_CREATE", bare)
        handled = await core.wait_handled(2)
    assert sorted(i.text for i in handled) == ["", "tell me a joke"]  # bare: the core answers with help


async def test_a_private_line_for_a_mention_goes_to_a_dm_never_to_the_channel(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    """Issue 13: a mention's private lines used to be posted in the channel for everyone to read."""
    secret = "Only for you: your allowance can't pay for an answer."
    core = TrackingCore(saying(secret, private=True))
    async with running_bot(core, discord_settings, fake_discord):
        nia, oz = fake_discord.user(23, "nia"), fake_discord.user(24, "oz")
        fake_discord.closed_dms.add(24)
        for who in (nia, oz):
            mention = fake_discord.message(who, f"<@{APP_ID}> /spend", mentions=[fake_discord.bot])
            await fake_discord.dispatch("MESSAGE_CREATE", mention)
        handled = await core.wait_handled(2)
    assert [i.private for i in handled] == [False, False]  # a guild channel is not a private place
    assert fake_discord.posted(DM_BASE + 23) == [secret]
    assert fake_discord.posted(DM_BASE + 24) == []  # DMs closed: the line is not shown anywhere...
    assert sorted(fake_discord.posted()) == sorted([SENT_DM, NO_DM])  # ...and the channel only learns where
    assert all(secret not in c.content for c in fake_discord.channel_posts())
