"""One person's chat with the real bot on each platform, for the end-to-end media tests: the real
python-telegram-bot Application on the fake Bot API, or the real discord.py client on the fake Discord,
both in front of the real core and ledger (SQLite in a temporary file, or a scratch PostgreSQL schema)
and the fake OpenAI server. A test written once against `Chat` runs on both platforms."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import core as core_module
from bot.config import Settings
from bot.storage import Database
from tests.doubles import Clock, TrackingCore
from tests.fakes import discord_api, discord_fixtures, telegram_fixtures
from tests.fakes import telegram_api as tg
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import Harness, settings_for
from tests.media.photos import image_size
from tests.postgres import postgres_url, scratch_schema
from tests.providers.wiring import env

ASKER = 31  # the person's id on either platform
DM_CHANNEL = 940_000_000_000_000_031  # their private channel with the bot on Discord


class Chat(Protocol):
    """The person's private chat with the bot (or, `in_group()`, a group where they mention it), on one
    platform."""

    user: str  # the person's account in the ledger

    def in_group(self) -> Chat:
        """The same person addressing the bot in a group (Telegram) or a server channel (Discord): each
        message mentions the bot."""

    def settings(self) -> dict[str, Any]:
        """The settings that aim the bot at this platform's fake."""

    def running(self, core: TrackingCore, settings: Settings) -> contextlib.AbstractAsyncContextManager[Any]:
        """The bot, connected to the fake for the block."""

    async def photo(self, data: bytes, caption: str = "", *, declared_size: int | None = None) -> None:
        """Send a picture the way the platform's camera button does."""

    async def image_file(self, data: bytes, caption: str = "", name: str = "picture.jpg") -> None:
        """Send bytes as an image file named `name` and declared as JPEG (a photo is re-encoded by
        Telegram, so damaged bytes can only come as a file)."""

    async def voice(self, data: bytes, seconds: int, caption: str = "") -> None:
        """Send a voice note of `seconds` (the duration the platform reports)."""

    async def text(self, text: str) -> None: ...

    async def reply(self, text: str) -> None:
        """Reply with `text` to the last file the person sent."""

    def shown(self) -> list[str]:
        """What each of the bot's messages in the chat shows now, oldest first."""

    async def wait_shown(self, count: int) -> None:
        """Until the bot has written `count` messages in the chat."""

    def downloads(self) -> int:
        """How many files the bot has downloaded from the platform."""


@dataclass
class TelegramChat:
    fake: FakeTelegram
    group: bool = False
    user: str = f"telegram:{ASKER}"
    person = tg.user(ASKER, "Alice", "alice")
    last_file: dict[str, Any] | None = None  # the last message with a file the person sent

    def in_group(self) -> TelegramChat:
        return dataclasses.replace(self, group=True)

    async def _push(self, caption: str, **media: Any) -> None:
        if self.group:
            mentioned = f"@{tg.BOT_USERNAME} {caption}".strip()
            made = tg.group_media(self.person, mentioned, **media)
        else:
            made = tg.private_media(self.person, caption, **media)
        self.last_file = made["message"]
        await self.fake.push(made)

    def settings(self) -> dict[str, Any]:
        return {"telegram_bot_token": tg.TOKEN, "telegram_base_url": self.fake.base_url}

    def running(self, core: TrackingCore, settings: Settings) -> contextlib.AbstractAsyncContextManager[Any]:
        return telegram_fixtures.running_bot(core, settings)

    async def photo(self, data: bytes, caption: str = "", *, declared_size: int | None = None) -> None:
        stored = self.fake.files.add(data, size=declared_size)
        width, height = image_size(data)
        await self._push(caption, photo=tg.photo((stored, width, height)))

    async def image_file(self, data: bytes, caption: str = "", name: str = "picture.jpg") -> None:
        stored = self.fake.files.add(data, folder="documents", suffix="jpg")
        await self._push(caption, document=tg.document(stored, "image/jpeg", name))

    async def voice(self, data: bytes, seconds: int, caption: str = "") -> None:
        stored = self.fake.files.add(data, folder="voice", suffix="oga")
        await self._push(caption, voice=tg.voice(stored, seconds))

    async def text(self, text: str) -> None:
        if self.group:
            await self.fake.push(tg.group_text(self.person, f"@{tg.BOT_USERNAME} {text}"))
        else:
            await self.fake.push(tg.private_text(self.person, text))

    async def reply(self, text: str) -> None:
        assert self.last_file is not None and not self.group
        said = tg.message(self.person, tg.chat(ASKER), text, reply_to=self.last_file)
        await self.fake.push(tg.update(message=said))

    def shown(self) -> list[str]:
        return self.fake.shown(tg.GROUP_ID if self.group else ASKER)

    def downloads(self) -> int:
        return len(self.fake.files.downloads)

    async def wait_shown(self, count: int) -> None:
        await self.fake.wait_for(lambda: len(self.shown()) >= count, f"{count} message(s) to the asker")


@dataclass
class DiscordChat:
    fake: FakeDiscord
    group: bool = False
    user: str = f"discord:{ASKER}"
    last_file: dict[str, Any] | None = None  # the last message with a file the person sent

    def in_group(self) -> DiscordChat:
        return dataclasses.replace(self, group=True)

    @property
    def channel(self) -> int:
        return discord_api.CHANNEL_ID if self.group else DM_CHANNEL

    def settings(self) -> dict[str, Any]:
        return {
            "discord_bot_token": discord_api.TOKEN,
            "discord_guild_ids": (str(discord_api.GUILD_ID),),
            "discord_api_base_url": self.fake.api_base,
            "discord_gateway_url": self.fake.gateway_url,
        }

    def running(self, core: TrackingCore, settings: Settings) -> contextlib.AbstractAsyncContextManager[Any]:
        return discord_fixtures.running_bot(core, settings, self.fake)

    async def _send(
        self, text: str, *attachments: dict[str, Any], replying_to: dict[str, Any] | None = None
    ) -> None:
        alice, files = self.fake.user(ASKER, "alice"), list(attachments)
        if self.group:
            mentioned = f"<@{discord_api.APP_ID}> {text}".strip()
            sent = self.fake.message(alice, mentioned, mentions=[self.fake.bot], attachments=files)
        else:
            sent = self.fake.message(
                alice, text, channel=DM_CHANNEL, attachments=files, replying_to=replying_to
            )
        if files:
            self.last_file = sent
        await self.fake.dispatch("MESSAGE_CREATE", sent)

    async def photo(self, data: bytes, caption: str = "", *, declared_size: int | None = None) -> None:
        await self._send(caption, self.fake.attachment(data, "photo.jpg", "image/jpeg", size=declared_size))

    async def image_file(self, data: bytes, caption: str = "", name: str = "picture.jpg") -> None:
        await self._send(caption, self.fake.attachment(data, name, "image/jpeg"))

    async def voice(self, data: bytes, seconds: int, caption: str = "") -> None:
        made = self.fake.attachment(data, "voice-message.ogg", "audio/ogg", voice_seconds=seconds)
        await self._send(caption, made)

    async def text(self, text: str) -> None:
        await self._send(text)

    async def reply(self, text: str) -> None:
        assert self.last_file is not None and not self.group
        await self._send(text, replying_to=self.last_file)

    def shown(self) -> list[str]:
        return self.fake.posted(self.channel)

    def downloads(self) -> int:
        return len(self.fake.downloads)

    async def wait_shown(self, count: int) -> None:
        await self.fake.wait_for(lambda: len(self.shown()) >= count, f"{count} message(s) to the asker")


@dataclass
class Bot(Harness):
    """The real core (with its ledger and settings, as in the core's own tests) and what it was handed
    through the platform."""

    seen: TrackingCore


@contextlib.asynccontextmanager
async def answering(
    chat: Chat, tmp_path: Path, fakes: Fakes, *, database: str = "sqlite", **overrides: Any
) -> AsyncIterator[Bot]:
    """The bot on `chat`'s platform answering with the real core, every provider's fake configured and
    gpt-4o-mini the default model (`overrides`: more settings); `database`: "sqlite" or "postgres"."""
    async with contextlib.AsyncExitStack() as stack:
        if database == "postgres":
            overrides["database_url"] = await stack.enter_async_context(scratch_schema(postgres_url()))
        settings = settings_for(tmp_path, **chat.settings(), **env(fakes), **overrides)
        clock = Clock()
        core = await stack.enter_async_context(core_module.open_core(settings, clock=clock))
        seen = TrackingCore(core)
        await stack.enter_async_context(chat.running(seen, settings))
        yield Bot(core, clock, settings, seen)


async def stored_messages(db: Database) -> int:
    """How many conversation messages the bot has kept, everyone's."""
    row = await db.fetchone("SELECT COUNT(*) AS n FROM messages")
    assert row is not None
    return int(row["n"])
