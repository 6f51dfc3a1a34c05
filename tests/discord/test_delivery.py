"""Delivery under Discord's real limits, against the fake Discord: an interaction token that expires
mid-answer (401, code 50027), the 2,000 limit counted in code points, a 429 on an edit, and private
commands whose follow-ups must stay private."""

from __future__ import annotations

from collections.abc import Callable

from adapters.discord_bot import LIMIT, discord_length
from adapters.streaming import CURSOR, split_text
from bot.config import Settings
from bot.incoming import Incoming, Reply
from tests.doubles import TrackingCore
from tests.fakes.discord_api import CHANNEL_ID, DM_BASE, EPHEMERAL, FakeDiscord
from tests.fakes.discord_fixtures import ScriptedCore, running_bot

Step = Callable[[], None]


def streaming_with(*steps: str | Step) -> ScriptedCore:
    """Stream the strings, showing each before the next; call the functions in between."""

    async def script(incoming: Incoming, reply: Reply) -> None:
        async with reply.stream() as out:
            for step in steps:
                if isinstance(step, str):
                    await out.write(step)
                    await out.drain()
                else:
                    step()

    return ScriptedCore(script)


def paragraph(name: str, size: int = 1500) -> str:
    words = " ".join(f"{name}{i}" for i in range(size // 4))
    return words[: words.rfind(" ", 0, size)]


async def ask(
    fake: FakeDiscord, settings: Settings, core: TrackingCore, user_id: int, command: str = "ask"
) -> str:
    """Run one slash command to the end; its interaction token."""
    options = {"prompt": "question"} if command == "ask" else None
    async with running_bot(core, settings, fake, edit_interval=0):
        event = fake.slash(fake.user(user_id, f"user{user_id}"), command, options)
        await fake.dispatch("INTERACTION_CREATE", event)
        await core.wait_handled(1)
    return str(event["token"])


def expire(fake: FakeDiscord) -> Step:
    return fake.expire_tokens


# ---------------------------------------------------------------- 15 minutes later


async def test_an_answer_outliving_its_token_is_finished_in_the_channel(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(streaming_with("Part one ", expire(fake_discord), "and part two."))
    token = await ask(fake_discord, discord_settings, core, 31)
    refused = [
        c for c in fake_discord.original_edits(token) if c.content == "Part one and part two." + CURSOR
    ]
    assert refused  # the edit Discord answered 401 / 50027
    assert fake_discord.shown(token) == ["Part one " + CURSOR]  # the response can no longer change
    assert fake_discord.posted() == ["Part one and part two."]  # the whole answer, by the bot's token
    post = fake_discord.channel_posts()[0]
    assert post.body["allowed_mentions"] == {"parse": []}  # still pings nobody


async def test_a_long_answer_continues_in_channel_messages_after_the_token_expires(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    a, b, c = paragraph("alpha"), paragraph("beta"), paragraph("gamma")
    core = TrackingCore(streaming_with(a + "\n\n", b + "\n\n", expire(fake_discord), c))
    token = await ask(fake_discord, discord_settings, core, 32)
    shown = fake_discord.shown(token)
    assert shown == [a, b + "\n\n" + CURSOR]  # the original was complete, the follow-up was not
    assert fake_discord.posted() == [b, c]  # the follow-up's text and the rest, as channel messages
    finished = [s for s in shown if not s.endswith(CURSOR)] + fake_discord.posted()
    assert finished == split_text(a + "\n\n" + b + "\n\n" + c, LIMIT) == [a, b, c]


async def test_an_answer_whose_token_expired_before_it_began_goes_to_the_channel(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    core = TrackingCore(streaming_with(expire(fake_discord), "Slow ", "but sure."))
    token = await ask(fake_discord, discord_settings, core, 33)
    assert fake_discord.shown(token) == []  # Discord shows "the application did not respond"
    assert fake_discord.posted() == ["Slow but sure."]


async def test_a_private_line_after_the_token_expires_goes_to_a_dm(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    async def script(incoming: Incoming, reply: Reply) -> None:
        fake_discord.expire_tokens()
        await reply.text("You have spent $0.01 of $1.00 this month.", private=True)

    token = await ask(fake_discord, discord_settings, TrackingCore(ScriptedCore(script)), 34)
    assert fake_discord.shown(token) == []
    assert fake_discord.posted() == []  # never in the channel: it concerns the asker alone
    assert fake_discord.posted(DM_BASE + 34) == ["You have spent $0.01 of $1.00 this month."]


# ---------------------------------------------------------------- private commands


async def test_the_followups_of_a_private_command_are_ephemeral(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    long_help = "\n\n".join(paragraph(f"help{i}-", 900) for i in range(4))

    async def script(incoming: Incoming, reply: Reply) -> None:
        await reply.text(long_help)

    token = await ask(fake_discord, discord_settings, TrackingCore(ScriptedCore(script)), 35, "help")
    followups = fake_discord.followups(token)
    assert len(fake_discord.shown(token)) == len(followups) + 1 >= 2
    assert all(call.flags & EPHEMERAL for call in followups)  # not public past the first 2,000


# ---------------------------------------------------------------- the 2,000 limit


async def test_emoji_count_once_toward_the_limit(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    # Discord counts code points (discord/discord-api-docs#1315), and so does the fake, refusing more.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, 8 UTF-16 units
    answer = "".join(f"{family} 😀 " if i % 10 == 0 else "😀 " for i in range(1400))
    assert LIMIT < discord_length(answer) <= 2 * LIMIT - 10 < len(answer.encode("utf-16-le")) // 2
    deltas = [answer[i : i + 50] for i in range(0, len(answer), 50)]
    core = TrackingCore(streaming_with(*deltas))
    token = await ask(fake_discord, discord_settings, core, 36)
    shown = fake_discord.shown(token)
    assert len(shown) == 2  # as full as Discord allows: UTF-16 units would have needed three
    assert all(discord_length(chunk) <= LIMIT for chunk in shown)
    assert " ".join(shown).split() == answer.split()


# ---------------------------------------------------------------- 429


async def test_a_rate_limited_final_edit_is_retried(
    fake_discord: FakeDiscord, discord_settings: Settings
) -> None:
    def rate_limit_next_edit() -> None:
        fake_discord.rate_limit_once[("PATCH", "/messages/@original")] = 0.01

    core = TrackingCore(streaming_with("Hello ", "world.", rate_limit_next_edit))
    token = await ask(fake_discord, discord_settings, core, 37)
    assert not fake_discord.rate_limit_once  # the 429 was answered
    edits = [c.content for c in fake_discord.original_edits(token)]
    # discord.py waited out the 429 on the final edit and sent it again
    assert edits == ["Hello " + CURSOR, "Hello world." + CURSOR, "Hello world.", "Hello world."]
    assert fake_discord.shown(token) == ["Hello world."]
    assert fake_discord.posted(CHANNEL_ID) == []
