"""Start-up tells the owner what is wrong, in the owner's words: missing provider keys, malformed tokens,
platforms out of reach, PostgreSQL refusing, where the SQLite ledger is, and no voice-library noise."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.startup import unreachable
from bot.storage import DatabaseError, open_database
from bot.wording import NO_PROVIDER
from tests.harness import harness
from tests.postgres import postgres_url
from tests.processes import bot_process, process_environment

GOOD_TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
GOOD_DISCORD = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.core" and r.levelno == logging.WARNING]


async def test_no_provider_key_is_one_warning_at_start_and_model_says_none_is_available(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with harness(tmp_path, fallback_models="anthropic/claude-haiku-4-5") as h:
        (warning,) = warnings_of(caplog)
        assert warning.startswith("no provider is set up: set one of OPENAI_API_KEY, ANTHROPIC_API_KEY")
        reply = await h.say("/model")
        assert reply.lines == [NO_PROVIDER] and reply.menus == []


async def test_a_default_or_fallback_model_without_its_key_is_a_warning_naming_the_variable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with harness(
        tmp_path,
        openai_api_key="sk-startup-test-key-0123456789",
        default_model="anthropic/claude-haiku-4-5",
        fallback_models="openai/gpt-4o google/gemini-2.0-flash nosuch/model",
    ):
        assert warnings_of(caplog) == [
            "DEFAULT_MODEL: anthropic/claude-haiku-4-5 needs ANTHROPIC_API_KEY, which is not set "
            "(people who have not picked a model get no answer)",
            "FALLBACK_MODELS: google/gemini-2.0-flash needs GEMINI_API_KEY, which is not set (skipped)",
            f"FALLBACK_MODELS: nosuch/model: {warnings_of(caplog)[2].split(': ', 2)[2]}",
        ]
        assert "there is no provider called 'nosuch'" in warnings_of(caplog)[2]


async def test_a_working_setup_starts_without_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with harness(tmp_path, openai_api_key="sk-startup-test-key-0123456789"):
        assert warnings_of(caplog) == []


def test_an_unreachable_platform_names_its_base_url_only_when_the_owner_set_it(tmp_path: Path) -> None:
    db = {"_env_file": None, "database_url": f"sqlite:///{tmp_path}/x.db"}
    default = load_settings(**db)
    line = str(
        unreachable("Telegram", default.telegram_base_url, default, "TELEGRAM_BASE_URL", "ConnectError")
    )
    assert line == (
        "cannot reach Telegram at api.telegram.org (ConnectError); check this machine's network connection"
    )
    moved = load_settings(**db, discord_api_base_url="https://proxy.example.org/api/v10")
    line = str(unreachable("Discord", moved.discord_api_base_url, moved, "DISCORD_API_BASE_URL", "Timeout"))
    assert line == (
        "cannot reach Discord at proxy.example.org (Timeout); "
        "DISCORD_API_BASE_URL is set to https://proxy.example.org/api/v10: check it"
    )


@pytest.mark.parametrize(
    ("variable", "bad", "good"),
    [
        ("telegram_bot_token", "987654321", GOOD_TELEGRAM),
        ("telegram_bot_token", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", GOOD_TELEGRAM),
        ("telegram_bot_token", "987654321:AAHdqTcv", GOOD_TELEGRAM),
        ("discord_bot_token", "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ", GOOD_DISCORD),
        ("discord_bot_token", "client-secret_without_dots", GOOD_DISCORD),
    ],
)
def test_a_malformed_platform_token_is_refused_at_load_without_repeating_it(
    tmp_path: Path, variable: str, bad: str, good: str
) -> None:
    db = {"_env_file": None, "database_url": f"sqlite:///{tmp_path}/x.db"}
    with pytest.raises(ConfigError) as raised:
        load_settings(**db, **{variable: bad})
    line = str(raised.value)
    assert line.startswith(f"{variable.upper()}: not a bot token") and bad not in line and "\n" not in line
    assert load_settings(**db, **{variable: good}).secret(variable.upper()) == good


def test_a_malformed_token_stops_python_m_bot_before_any_connection(tmp_path: Path) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "12345:short", "TELEGRAM_BASE_URL": "http://127.0.0.1:9"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-m", "bot", "telegram"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("capbot: configuration error: TELEGRAM_BOT_TOKEN: not a bot token")
    assert "12345:short" not in done.stderr and "Traceback" not in done.stderr


async def test_a_postgresql_connection_error_names_host_port_database_and_role_never_the_password() -> None:
    base = postgres_url()  # skipped, saying why, without a test server
    closed = "postgresql://capbot_role:hunter2-very-secret@127.0.0.1:1/capbot_db"
    with pytest.raises(DatabaseError) as raised:
        await open_database(closed)
    line = str(raised.value)
    assert line.startswith(
        "DATABASE_URL: cannot connect to PostgreSQL at host 127.0.0.1 port 1, database capbot_db, "
        "role capbot_role: "
    )
    assert "hunter2" not in line and "\n" not in line
    missing = base.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(DatabaseError, match=r"database no_such_database_here, role .*does not exist"):
        await open_database(missing)


async def test_python_m_bot_api_says_where_the_ledger_is_and_where_it_listens(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for PORT (which must be a real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = process_environment(
        ADMIN_API_TOKEN="startup-admin-token-0123456789", PORT=str(port), DATABASE_URL="sqlite:///data/rel.db"
    )
    async with bot_process("api", tmp_path, env, never_logged=("startup-admin-token-0123456789",)) as process:
        assert process.stderr is not None
        lines: list[str] = []
        async with asyncio.timeout(60):
            while not any("web server on" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "".join(lines)  # the process ended before serving
                lines.append(line)
    where = f"ledger at {tmp_path / 'data' / 'rel.db'} (relative to the working directory {tmp_path})"
    assert any(line.rstrip().endswith(where) for line in lines), lines
    assert f"web server on 127.0.0.1 port {port} (the default; set HOST" in lines[-1]
    assert (tmp_path / "data" / "rel.db").exists()


def test_discord_voice_library_warnings_are_silenced(tmp_path: Path) -> None:
    code = (
        "import logging, discord, adapters.discord_bot\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "discord.Client(intents=discord.Intents.default())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "voice will NOT be supported" not in done.stderr
