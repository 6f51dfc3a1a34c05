"""The console at a terminal and under Ctrl-C: a pasted line longer than the terminal driver's line limit
arrives whole (readline reads it key by key), Ctrl-C mid-answer stops that answer (charged the bound of what
it showed) and returns to the prompt, and Ctrl-C at the prompt quits at once with exit 0 and no traceback.

The terminal is a real pseudo-terminal (`pty.openpty`) that `python -m bot console` has as its controlling
terminal, so ^C is the terminal driver's own SIGINT."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import sqlite3
import sys
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters import console
from bot.config import Settings
from tests.core.test_ask import INPUT_NANOS, OUTPUT_NANOS, expected_cost, input_bound
from tests.doubles import eventually
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import harness, spy_reserves
from tests.processes import process_environment

LINE_LIMIT = 4096  # what a terminal in canonical mode keeps of one line (Linux's N_TTY_BUF_SIZE)


class Terminal:
    """The other side of a pseudo-terminal: what the program wrote to it, and keys typed into it."""

    def __init__(self, master: int) -> None:
        self._master = master
        self.screen = bytearray()
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            self.screen += os.read(self._master, 65536)
        except OSError:  # the program is gone (EIO): nothing more will come
            asyncio.get_running_loop().remove_reader(self._master)

    def shows(self, text: str) -> bool:
        return text.encode() in self.screen

    async def type(self, keys: str) -> None:
        """Type `keys`, a little at a time as the program takes them (a full input queue pushes back)."""
        data = keys.encode()
        while data:
            try:
                written = os.write(self._master, data[:256])
            except BlockingIOError:
                written = 0
            data = data[written:]
            await asyncio.sleep(0)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)


def _take_the_terminal() -> None:  # pragma: no cover - runs in the child before exec
    """Make the pty (already stdin) the new session's controlling terminal, so ^C signals the bot."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@asynccontextmanager
async def console_on_a_terminal(
    cwd: Path, env: dict[str, str]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Terminal]]:
    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "console",
        stdin=slave,
        stdout=slave,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
        preexec_fn=_take_the_terminal,
    )
    os.close(slave)
    terminal = Terminal(master)
    try:
        yield process, terminal
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        terminal.close()


async def test_a_long_paste_arrives_whole_and_ctrl_c_stops_an_answer_then_quits_at_the_prompt(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    pasted = "word " * (LINE_LIMIT // 5 + 200)  # over the terminal's line limit
    fake_openai.then(
        Script(text="Read it all.", prompt_tokens=1200, completion_tokens=3),
        Script(text="one two three four", stall_after_words=2),
    )
    database = tmp_path / "capbot.db"
    env = process_environment(
        OPENAI_API_KEY="sk-console-test-key",
        OPENAI_BASE_URL=fake_openai.url,
        DATABASE_URL=f"sqlite:///{database}",
        TERM="xterm",
    )
    async with console_on_a_terminal(tmp_path, env) as (bot, terminal):
        await eventually(lambda: terminal.shows("> "), "the prompt", seconds=30)
        await terminal.type(f"/ask {pasted}\r")
        await eventually(lambda: terminal.shows("Read it all."), "the first answer", seconds=30)
        assert fake_openai.requests[0].body["messages"][-1]["content"] == pasted.strip()

        await terminal.type("/ask count\r")
        await eventually(lambda: fake_openai.stalled == 1 and terminal.shows("two"), "two words shown")
        await terminal.type("\x03")  # Ctrl-C mid-answer
        await eventually(lambda: terminal.shows("(Stopped.)"), "the answer stopped")
        await eventually(lambda: terminal.screen.rstrip().endswith(b">"), "the prompt again")
        assert bot.returncode is None  # still running: only the answer stopped

        await terminal.type("\x03")  # Ctrl-C at the prompt
        assert bot.stderr is not None
        log = (await asyncio.wait_for(bot.stderr.read(), 30)).decode()
        assert await bot.wait() == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log
    with sqlite3.connect(database) as db:
        (holds,) = db.execute("SELECT COUNT(*) FROM holds").fetchone()
        charges = db.execute("SELECT cost, estimated FROM charges ORDER BY id").fetchall()
    system_prompt = Settings.model_fields["system_prompt"].default
    history = [pasted.strip(), "Read it all. "]  # the first exchange is sent with the question
    prompt_bound = input_bound(system_prompt, *history, "count") * INPUT_NANOS
    assert holds == 0
    assert charges == [
        (expected_cost(1200, 3), 0),  # the first answer's reported usage
        (prompt_bound + len(b"one two ") * OUTPUT_NANOS, 1),  # the stopped one: the bound of what it showed
    ]


async def test_ctrl_c_mid_answer_charges_the_bound_of_what_it_showed_and_the_session_goes_on(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.then(Script(text="one two three four", stall_after_words=2), Script(text="next answer"))
    settings = {"openai_api_key": "sk-test", "openai_base_url": fake_openai.url, "retry_base_delay": 0}
    async with harness(tmp_path, **settings) as h:
        reserved = spy_reserves(h, monkeypatch)
        out = io.StringIO()
        typed = io.StringIO("/ask count\n/ask next\n")
        session = console.Console(h.core, user="alice", stdin=typed, stdout=out)
        running = asyncio.create_task(session.run())
        await eventually(lambda: fake_openai.stalled == 1 and "two" in out.getvalue(), "two words shown")
        session.interrupt()  # what Ctrl-C does
        await running
        rows = await h.db.fetchall("SELECT cost, estimated FROM charges ORDER BY id")
        assert await h.db.fetchall("SELECT id FROM holds") == []
    assert out.getvalue().splitlines() == ["one two ", "(Stopped.)", "next answer "]
    charges = [(int(r["cost"]), int(r["estimated"])) for r in rows]
    assert charges[0] == (reserved[0].bound_of("one two "), 1) and charges[1][1] == 0


async def test_ctrl_c_at_the_prompt_ends_the_session_at_once(tmp_path: Path) -> None:
    """Even while a read is waiting for a line that will never come."""
    read_end, write_end = os.pipe()
    async with harness(tmp_path) as h:
        with os.fdopen(read_end) as stdin:
            session = console.Console(h.core, stdin=stdin, stdout=io.StringIO())
            running = asyncio.create_task(session.run())
            await asyncio.sleep(0)
            session.interrupt()
            await running  # returns though no line and no end of input came
            os.close(write_end)  # lets the abandoned read finish
