"""Discord's Stop button end to end: the real discord.py client, the fake Discord (which delivers the
button press as a component interaction), the real core and ledger, and the fake OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot import core as core_module
from bot.config import Settings
from bot.wording import STOP_NOT_YOURS, STOPPED_NOTE, STOPPING
from tests.doubles import TrackingCore, eventually
from tests.fakes.discord_api import EPHEMERAL, FakeDiscord
from tests.fakes.discord_fixtures import running_bot
from tests.fakes.llm_openai import FakeOpenAI, Script

INPUT_NANOS, OUTPUT_NANOS = 150, 600  # gpt-4o-mini per token: $0.15 and $0.60 per million


@pytest.fixture
async def core(discord_settings: Settings, fake_openai: FakeOpenAI) -> AsyncIterator[TrackingCore]:
    fake_openai.default = Script(text="one two three four five", stall_after_words=3)  # then silent
    settings = discord_settings.model_copy(
        update={
            "openai_base_url": fake_openai.url,
            "openai_api_key": "sk-test-not-a-real-key",
            "default_model": "openai/gpt-4o-mini",
            "default_cap_usd": Decimal("1.00"),
            "max_output_tokens": 1024,
        }
    )
    async with core_module.open_core(settings) as real:
        yield TrackingCore(real)


async def test_stop_button_by_the_asker_only(
    fake_discord: FakeDiscord, discord_settings: Settings, fake_openai: FakeOpenAI, core: TrackingCore
) -> None:
    alice, carol = fake_discord.user(31, "alice"), fake_discord.user(33, "carol")
    async with running_bot(core, discord_settings, fake_discord, edit_interval=0):
        event = fake_discord.slash(alice, "ask", {"prompt": "count"})
        await fake_discord.dispatch("INTERACTION_CREATE", event)
        token = event["token"]
        await eventually(lambda: fake_openai.stalled == 1, "the model sent its three words")
        await fake_discord.wait_for(lambda: token in fake_discord.originals, "the answer's first text")
        original = fake_discord.originals[token]
        await fake_discord.wait_for(
            lambda: bool(fake_discord.messages[original].get("components")), "a Stop button"
        )
        (row,) = fake_discord.messages[original]["components"]
        (button,) = row["components"]
        assert button["label"] == "Stop"

        refused = fake_discord.press(carol, original, button["custom_id"])
        await fake_discord.dispatch("INTERACTION_CREATE", refused)
        await fake_discord.wait_for(lambda: bool(fake_discord.callbacks(refused["token"])), "refusal")
        (told,) = fake_discord.callbacks(refused["token"])
        assert told.body["data"]["content"] == STOP_NOT_YOURS and told.body["data"]["flags"] == EPHEMERAL
        assert fake_openai.disconnects == 0 and not core.handled  # nothing changed

        stop = fake_discord.press(alice, original, button["custom_id"])
        await fake_discord.dispatch("INTERACTION_CREATE", stop)
        await core.wait_handled(1)
        await eventually(lambda: fake_openai.disconnects == 1, "the provider request cancelled")
        await fake_discord.wait_for(lambda: bool(fake_discord.callbacks(stop["token"])), "answered")
    assert fake_discord.callbacks(stop["token"])[0].body["data"]["content"] == STOPPING
    (final,) = fake_discord.shown(token)
    assert final.startswith("one two three") and final.endswith(STOPPED_NOTE)
    assert not fake_discord.messages[original].get("components")  # the button went with the progress
    row = await core.inner.services.ledger.db.fetchone(
        "SELECT cost, estimated FROM charges WHERE user_id = ?", "discord:31"
    )
    system_prompt = Settings.model_fields["system_prompt"].default
    prompt = sum(len(text.encode()) + 8 for text in (system_prompt, "count"))
    assert row is not None and int(row["estimated"]) == 1
    assert int(row["cost"]) == prompt * INPUT_NANOS + len(b"one two three ") * OUTPUT_NANOS
