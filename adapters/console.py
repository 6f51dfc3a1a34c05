"""The console: each line of standard input is one message from `console:NAME`; answers go to stdout.

Works interactively and piped; at end of input it finishes the answer in progress and returns. The
console user is always an owner (whoever has the server's terminal has its keys anyway).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from bot.core import Core
from bot.incoming import ClosingStream, Incoming, Menu


class ConsoleStream(ClosingStream):
    """Prints deltas as they arrive: a terminal needs no throttling or splitting."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._text = ""
        self.closed = False

    async def write(self, delta: str) -> None:
        self._text += delta
        self._out.write(delta)
        self._out.flush()

    async def close(self) -> str:
        if not self.closed and self._text:
            self._out.write("\n")
            self._out.flush()
        self.closed = True
        return self._text


class ConsoleReply:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    async def text(self, text: str, *, private: bool = False) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def stream(self) -> ConsoleStream:
        return ConsoleStream(self._out)

    async def menu(self, menu: Menu) -> None:
        await self.text(menu.as_text())


async def run(
    core: Core, *, user: str = "console", stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Answer stdin line by line, in order, until end of input."""
    source = stdin or sys.stdin
    out = stdout or sys.stdout
    reply = ConsoleReply(out)
    identity = f"console:{user}"
    interactive = source.isatty() and out.isatty()
    loop = asyncio.get_running_loop()
    if interactive:
        out.write(f"capbot console as {identity}. /help lists commands; Ctrl-D quits.\n")
    while True:
        if interactive:
            out.write("> ")
            out.flush()
        line = await loop.run_in_executor(None, source.readline)
        if not line:
            break
        text = line.strip()
        if text:
            await core.handle(Incoming(user=identity, thread=identity, text=text, direct=True), reply)
