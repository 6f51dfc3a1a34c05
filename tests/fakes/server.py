"""The one base of the fake servers: a fake is an aiohttp app served on a free port of 127.0.0.1 by
production's own `bot.web.listening`, for the duration of `async with fake:`."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Self

from aiohttp import web

from bot.web_limits import listening


class FakeServer:
    """Subclasses say what they serve (`app`) and what must happen before the server stops (`stopping`:
    wake long polls, close sockets, release stalled answers). `root` is `http://127.0.0.1:PORT` while
    the fake is served."""

    root = ""

    def app(self) -> web.Application:
        raise NotImplementedError

    async def stopping(self) -> None:
        """Called before the server stops, so that no handler is left waiting."""

    async def __aenter__(self) -> Self:
        self._served = AsyncExitStack()
        self.root = await self._served.enter_async_context(listening(self.app()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stopping()
        finally:
            await self._served.aclose()
