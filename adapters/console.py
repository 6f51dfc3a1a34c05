"""The console: each line of standard input is one message from `console:NAME`; answers go to stdout.

Works interactively and piped; at end of input it finishes the answer in progress and returns. The
console user is always an owner (whoever has the server's terminal has its keys anyway).

At a terminal the prompt is read with `readline` (line editing, history): it reads the line key by key,
so a pasted line longer than the terminal driver's own line limit (4096 bytes) arrives whole rather than
silently cut. `Console.interrupt` is what Ctrl-C does: it stops the answer in progress (charged what it
showed, as any answer cut short) or, at the prompt, ends the session. Lines are read in a daemon thread,
so a read still waiting when the session ends never keeps the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

from adapters.handoff import ChatCore
from bot.i18n import _, speaking, terminal_language
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

    def stream(self, stop: str | None = None) -> ConsoleStream:
        return ConsoleStream(self._out)

    async def menu(self, menu: Menu) -> None:
        await self.text(menu.as_text())


class Console:
    """One console session: its input, its output, and the answer in progress (for Ctrl-C)."""

    def __init__(
        self,
        core: ChatCore,
        *,
        user: str = "console",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._core = core
        self._source = stdin or sys.stdin
        raw_out = stdout or sys.stdout
        self._out = Output(raw_out)
        self._reply = ConsoleReply(self._out)
        self._identity = f"console:{user}"
        self._interactive = self._source.isatty() and raw_out.isatty()
        # input() edits the line with readline only on the process's own terminal
        self._editing = self._interactive and self._source is sys.stdin and _line_editing()
        self._answering: asyncio.Task[None] | None = None
        self._quit = asyncio.Event()

    def interrupt(self) -> None:
        """Ctrl-C: stop the answer in progress (it is charged what it showed), or at the prompt quit."""
        if self._answering is not None and not self._answering.done():
            self._answering.cancel()
        else:
            self._quit.set()

    async def run(self) -> None:
        """Answer the input line by line, in order, until end of input (or Ctrl-C at the prompt)."""
        out = self._out
        if self._interactive:
            with speaking(self._core.client_language(terminal_language())):
                welcome = _(
                    "capbot console as {user}. /help lists commands; Ctrl-C stops an answer; Ctrl-D quits."
                )
            out.write(welcome.format(user=self._identity) + "\n")
        with _terminal_modes_kept(self._source if self._interactive else None):
            while not out.gone:
                line = await self._next_line()
                if line is None:
                    if self._interactive:
                        out.write("\n")  # leave the shell prompt on a line of its own
                    break
                text = line.strip()
                if text:
                    await self._answer(text)

    async def _answer(self, text: str) -> None:
        incoming = Incoming(
            user=self._identity,
            conversation=self._identity,
            text=text,
            direct=True,
            private=True,
            language=terminal_language(),
        )
        answering = self._answering = asyncio.ensure_future(self._core.handle(incoming, self._reply))
        try:
            await answering
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if not answering.cancelled() or (this is not None and this.cancelling()):
                raise  # the session itself is being stopped
            self._out.write("(Stopped.)\n")
        finally:
            self._answering = None

    async def _next_line(self) -> str | None:
        """The next line; None at end of input, or when Ctrl-C quit at the prompt."""
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str] = loop.create_future()
        threading.Thread(target=self._read, args=(loop, line), daemon=True).start()
        quitting = asyncio.ensure_future(self._quit.wait())
        either: set[asyncio.Future[Any]] = {line, quitting}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            quitting.cancel()
        if not line.done():  # quit at the prompt: the read is left to its daemon thread
            line.cancel()
            return None
        return line.result() or None  # "" is the end of input

    def _read(self, loop: asyncio.AbstractEventLoop, line: asyncio.Future[str]) -> None:
        """Read one line in this (daemon) thread and hand it to the loop."""
        try:
            text = (input("> ") + "\n") if self._editing else self._prompted_readline()
        except EOFError:
            text = ""
        except Exception as exc:
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(_fail, line, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_deliver, line, text)

    def _prompted_readline(self) -> str:
        if self._interactive:
            self._out.write("> ")
        return self._source.readline()


def _deliver(line: asyncio.Future[str], text: str) -> None:
    if not line.done():
        line.set_result(text)


def _fail(line: asyncio.Future[str], exc: Exception) -> None:
    if not line.done():
        line.set_exception(exc)


def _line_editing() -> bool:
    """Turn on readline for input() (editing, in-memory history), where the platform has it."""
    try:
        import readline  # noqa: F401  (importing it is what makes input() use it)
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _terminal_modes_kept(terminal: TextIO | None) -> Iterator[None]:
    """Put the terminal's modes back at the end: a session that ends (Ctrl-C) while readline has the
    line in its own mode would otherwise leave the shell without echo."""
    saved: list[Any] | None = None
    try:
        import termios

        if terminal is not None:
            saved = termios.tcgetattr(terminal.fileno())
    except Exception:  # no termios (not POSIX), or not a terminal after all
        saved = None
    try:
        yield
    finally:
        if saved is not None and terminal is not None:
            with contextlib.suppress(Exception):
                termios.tcsetattr(terminal.fileno(), termios.TCSADRAIN, saved)


async def run(
    core: ChatCore, *, user: str = "console", stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Answer stdin line by line, in order, until end of input."""
    await Console(core, user=user, stdin=stdin, stdout=stdout).run()
