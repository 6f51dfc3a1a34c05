"""What the benchmarks share: a core on a throwaway database, answering from the local demo server."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.core import Core, open_core
from bot.incoming import ClosingStream, Incoming, Menu
from bot.providers.demo import DEMO_MODEL, demo_server, demo_spec
from tests.postgres import scratch_schema


class _Stream(ClosingStream):
    def __init__(self, reply: QuietReply) -> None:
        self._reply = reply
        self._text = ""

    async def write(self, delta: str) -> None:
        self._text += delta

    async def close(self) -> str:
        self.closed = True
        if self._text:
            self._reply.answered = True
        return self._text


class QuietReply:
    """Counts instead of printing."""

    def __init__(self) -> None:
        self.answered = False
        self.lines: list[str] = []

    async def text(self, text: str, *, private: bool = False) -> None:
        self.lines.append(text)

    def stream(self, stop: str | None = None) -> _Stream:
        return _Stream(self)

    async def menu(self, menu: Menu) -> None:
        self.lines.append(menu.title)


@asynccontextmanager
async def bench_core(
    *,
    cap_usd: str,
    fill_to_limit: bool,
    word_delay: float,
    database_url: str | None = None,
    model_url: str | None = None,
    **more: Any,
) -> AsyncIterator[Core]:
    """A core on a scratch database; the demo model is served here unless `model_url` names one elsewhere."""
    async with contextlib.AsyncExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        if database_url and database_url.startswith(("postgres://", "postgresql://")):
            database_url = await stack.enter_async_context(scratch_schema(database_url))
        settings = load_settings(
            _env_file=None,
            database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.db'}",
            default_model=DEMO_MODEL,
            default_cap_usd=Decimal(cap_usd),
            rate_limit_per_minute=10_000,
            max_in_flight=1000,
            log_level="WARNING",
            **more,
        )
        if model_url is None:
            model_url = await stack.enter_async_context(
                demo_server(fill_to_limit=fill_to_limit, word_delay=word_delay)
            )
        async with open_core(settings, extra_specs=[demo_spec(model_url)]) as core:
            yield core


async def ask(core: Core, user: str, text: str) -> QuietReply:
    reply = QuietReply()
    await core.handle(
        Incoming(user=user, conversation=f"bench:{user}", text=f"/ask {text}", direct=True), reply
    )
    return reply
