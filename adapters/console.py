"""The console: each line of standard input is one message from `console:NAME`; answers go to stdout.

Works interactively and piped; at end of input it finishes the answer in progress and returns. The
console user is always an owner (whoever has the server's terminal has its keys anyway).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from adapters.handoff import ChatCore
from bot.incoming import ClosingStream, Incoming, Menu


class Output:
    """Standard output that may be closed under us (`python -m bot console | head -1`).

    A reader going away is not the model's fault: the answer in progress still runs to its end (so it is
    charged what it used, not the worst case), its text goes nowhere, and the session then ends quietly.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.gone = False

    def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            self.gone = True
            self._silence()

    def _silence(self) -> None:
        """Point the closed descriptor at /dev/null so the interpreter's last flush cannot fail either."""
        try:
            fd = self._out.fileno()
        except (OSError, ValueError):  # io.StringIO and friends: nothing to redirect
            return
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


class ConsoleStream(ClosingStream):
    """Prints deltas as they arrive: a terminal needs no throttling or splitting."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._text = ""
        self.closed = False

    async def write(self, delta: str) -> None:
        self._text += delta
        self._out.write(delta)

    async def close(self) -> str:
        if not self.closed and self._text:
            self._out.write("\n")
        self.closed = True
        return self._text


class ConsoleReply:
    def __init__(self, out: Output) -> None:
        self._out = out

    async def text(self, text: str, *, private: bool = False) -> None:
        self._out.write(text + "\n")

    def stream(self) -> ConsoleStream:
        return ConsoleStream(self._out)

    async def menu(self, menu: Menu) -> None:
        await self.text(menu.as_text())


async def run(
    core: ChatCore, *, user: str = "console", stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Answer stdin line by line, in order, until end of input."""
    source = stdin or sys.stdin
    raw_out = stdout or sys.stdout
    out = Output(raw_out)
    reply = ConsoleReply(out)
    identity = f"console:{user}"
    interactive = source.isatty() and raw_out.isatty()
    loop = asyncio.get_running_loop()
    if interactive:
        out.write(f"capbot console as {identity}. /help lists commands; Ctrl-D quits.\n")
    while not out.gone:
        if interactive:
            out.write("> ")
        line = await loop.run_in_executor(None, source.readline)
        if not line:
            if interactive:
                out.write("\n")  # leave the shell prompt on a line of its own
            break
        text = line.strip()
        if text:
            await core.handle(
                Incoming(user=identity, conversation=identity, text=text, direct=True, private=True), reply
            )
