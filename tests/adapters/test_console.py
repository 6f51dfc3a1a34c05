"""The console adapter and `python -m bot` as a person runs them: piped stdin, exit codes, one-line errors."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from adapters import console
from bot.money import format_usd
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import harness
from tests.processes import process_environment


def run_bot(args: list[str], stdin: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = process_environment()
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def test_the_demo_answers_and_then_shows_the_charge_cap_and_remainder(tmp_path: Path) -> None:
    done = run_bot(["console", "--demo"], "/ask hello\n/spend\n", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("(demo mode:")
    assert lines[1].startswith('[demo model, no LLM behind it] You asked: "hello".')
    assert lines[2].startswith("Spent $") and "of your $1.00 cap;" in lines[2] and "left" in lines[2]
    assert (tmp_path / "data" / "demo.db").exists()
    again = run_bot(["console", "--demo"], "/spend\n", tmp_path)  # the ledger survives a restart
    assert again.stdout.splitlines()[1] == lines[2]


def test_a_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    done = run_bot(["console"], "", tmp_path, DEFAULT_CAP_USD="lots")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "capbot: configuration error: DEFAULT_CAP_USD: Input should be a valid decimal"
    ]


def test_nothing_to_run_says_what_to_set(tmp_path: Path) -> None:
    done = run_bot([], "", tmp_path)
    assert done.returncode == 2 and "TELEGRAM_BOT_TOKEN" in done.stderr and "Traceback" not in done.stderr


async def test_piped_lines_are_answered_in_order_and_eof_ends_the_session(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.then(Script(text="first answer"), Script(text="second answer"))
    settings = {"openai_api_key": "sk-test", "openai_base_url": fake_openai.url, "retry_base_delay": 0}
    async with harness(tmp_path, **settings) as h:
        out = io.StringIO()
        await console.run(h.core, user="alice", stdin=io.StringIO("one\n\n/ask two\n/spend\n"), stdout=out)
        spent = (await h.ledger.summary("console:alice")).spent
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["first answer ", "second answer "]
    assert lines[2].startswith(f"Spent {format_usd(spent)} this month")
    assert [r.body["messages"][-1]["content"] for r in fake_openai.requests] == ["one", "two"]


class ClosedPipe(io.StringIO):
    """Standard output whose reader went away after the first line (`| head -1`)."""

    def write(self, text: str) -> int:
        if "\n" in self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


async def test_a_closed_stdout_ends_the_session_quietly_and_charges_what_was_used(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.then(Script(text="first answer"), Script(text="second answer"), Script(text="unused"))
    settings = {"openai_api_key": "sk-test", "openai_base_url": fake_openai.url, "retry_base_delay": 0}
    async with harness(tmp_path, **settings) as h:
        out = ClosedPipe()
        stdin = io.StringIO("/ask one\n/ask two\n/ask three\n")
        await console.run(h.core, user="alice", stdin=stdin, stdout=out)
        summary = await h.ledger.summary("console:alice")
    assert out.getvalue() == "first answer \n"
    assert len(fake_openai.requests) == 2  # the answer in progress ran to its end; nothing after it
    assert summary.spent > 0 and summary.held == 0


def test_a_piped_session_handles_blank_lines_and_a_last_line_without_newline(tmp_path: Path) -> None:
    done = run_bot(["console", "--demo", "--user", "bob"], "\n   \n/ask hi\n\n/spend", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith('[demo model, no LLM behind it] You asked: "hi".')
    assert lines[2].startswith("Spent $")
    assert "Traceback" not in done.stderr


def test_the_console_user_is_an_owner(tmp_path: Path) -> None:
    typed = "/ask hi\n/cap console:bob 2.50\n/spend\n"
    done = run_bot(["console", "--demo", "--user", "bob"], typed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "of your $2.50 cap" in done.stdout, done.stdout


def test_end_of_input_at_once_exits_zero(tmp_path: Path) -> None:
    done = run_bot(["console", "--demo"], "", tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("(demo mode:")
