import subprocess
import sys
from decimal import Decimal
from ipaddress import ip_network
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from tests.fakes.discord_api import TOKEN
from tests.processes import ROOT


def test_lists_and_amounts_are_parsed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNER_IDS", "telegram:1, discord:2")
    monkeypatch.setenv("DEFAULT_CAP_USD", "0.25")
    monkeypatch.setenv("CAP_PERIOD", "weekly")
    settings = load_settings(_env_file=None)
    assert settings.owner_ids == ("telegram:1", "discord:2")
    assert settings.default_cap_usd == Decimal("0.25")
    assert settings.cap_period == "weekly"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("DEFAULT_CAP_USD", "lots", "DEFAULT_CAP_USD"),
        ("DEFAULT_CAP_USD", "abc", "DEFAULT_CAP_USD"),
        ("DEFAULT_CAP_USD", "-1", "DEFAULT_CAP_USD"),
        ("GLOBAL_CAP_USD", "-3", "GLOBAL_CAP_USD"),
        ("CAP_PERIOD", "hourly", "CAP_PERIOD"),
        ("CAP_PERIOD", "yearly", "CAP_PERIOD"),
        ("MAX_OUTPUT_TOKENS", "0", "MAX_OUTPUT_TOKENS"),
        ("MAX_OUTPUT_TOKENS", "-1", "MAX_OUTPUT_TOKENS"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("PORT", "99999", "PORT"),
        ("OWNER_IDS", "bob", "OWNER_IDS"),
        ("ALLOWED_USERS", "telegram:1,alice", "ALLOWED_USERS"),
        ("RATE_LIMIT_PER_MINUTE", "x", "RATE_LIMIT_PER_MINUTE"),
        ("DISCORD_GUILD_IDS", "x", "DISCORD_GUILD_IDS"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("SHUTDOWN_GRACE_SECONDS", "-1", "SHUTDOWN_GRACE_SECONDS"),
        ("SHUTDOWN_GRACE_SECONDS", "soon", "SHUTDOWN_GRACE_SECONDS"),
        ("TELEGRAM_BASE_URL", "notaurl", "TELEGRAM_BASE_URL"),
        ("TELEGRAM_WEBHOOK_URL", "bot.example.com/hook", "TELEGRAM_WEBHOOK_URL"),
        ("TELEGRAM_BOT_TOKEN", "12345:abc def", "TELEGRAM_BOT_TOKEN"),
        ("DISCORD_API_BASE_URL", "discord.com", "DISCORD_API_BASE_URL"),
        ("DISCORD_GATEWAY_URL", "https://gateway.discord.gg", "DISCORD_GATEWAY_URL"),
        ("OPENAI_BASE_URL", "api.openai.com/v1", "OPENAI_BASE_URL"),
        ("ANTHROPIC_BASE_URL", "ftp://api.anthropic.com", "ANTHROPIC_BASE_URL"),
        ("GEMINI_BASE_URL", "https://", "GEMINI_BASE_URL"),
        ("OLLAMA_BASE_URL", "localhost:11434", "OLLAMA_BASE_URL"),
        ("GROQ_API_KEY", "gsk key", "GROQ_API_KEY"),
        ("AZURE_OPENAI_ENDPOINT", "my-resource", "AZURE_OPENAI_ENDPOINT"),
        ("DEFAULT_MODEL", "gpt-4o-mini", "DEFAULT_MODEL"),
        ("FALLBACK_MODELS", "openai/gpt-4o-mini,claude", "FALLBACK_MODELS"),
        ("TRUSTED_PROXIES", "localhost", "TRUSTED_PROXIES"),
        ("TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/33", "TRUSTED_PROXIES"),
        ("TRUSTED_PROXIES", "0.0.0.0/0", "TRUSTED_PROXIES"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith(f"{named}: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT: Input should be greater than or equal to 1"),
        ({"DISCORD_SHARD_COUNT": "two"}, "DISCORD_SHARD_COUNT: Input should be a valid integer"),
        (
            {"DISCORD_SHARD_IDS": "0"},
            "DISCORD_SHARD_IDS: needs DISCORD_SHARD_COUNT, the number of shards across every process",
        ),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"},
            "DISCORD_SHARD_IDS: shard 2 does not exist: DISCORD_SHARD_COUNT=2 has 0 to 1",
        ),
        (
            {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,x"},
            "DISCORD_SHARD_IDS: 'x' is not a shard id (a number from 0, e.g. 0,1)",
        ),
        ({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,1"}, "DISCORD_SHARD_IDS: names shard 1 twice"),
    ],
)
def test_bad_shard_settings_are_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith(line) and "\n" not in str(caught.value)


def test_shard_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "1, 3")
    settings = load_settings(_env_file=None)
    assert (settings.discord_shard_count, settings.discord_shard_ids) == (4, (1, 3))
    monkeypatch.setenv("DISCORD_SHARD_IDS", "")  # blank (`DISCORD_SHARD_IDS=` in .env): every shard
    assert load_settings(_env_file=None).discord_shard_ids == ()


@pytest.mark.parametrize(
    ("command", "name", "value", "line"),
    [
        (
            "console",
            "CAP_PERIOD",
            "fortnightly",
            "CAP_PERIOD: Input should be 'daily', 'weekly', 'monthly' or 'total'",
        ),
        (
            "api",
            "TRUSTED_PROXIES",
            "10.0.0.1/8",
            "TRUSTED_PROXIES: '10.0.0.1/8' has host bits set: did you mean 10.0.0.0/8?",
        ),
    ],
)
def test_bad_settings_stop_start_up_without_a_traceback(
    tmp_path: Path, command: str, name: str, value: str, line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", command, *(["--demo"] if command == "console" else [])],
        input="",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), name: value},
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"capbot: configuration error: {line}"]
    assert "Traceback" not in result.stderr


def test_trusted_proxies_are_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 fd00::/8 ::ffff:172.16.0.0/108")
    found = load_settings(_env_file=None).trusted_proxies
    assert found == tuple(ip_network(n) for n in ("127.0.0.1/32", "10.0.0.0/8", "fd00::/8", "172.16.0.0/12"))
    monkeypatch.setenv("TRUSTED_PROXIES", "")  # as in .env.example: nobody
    assert load_settings(_env_file=None).trusted_proxies == ()


@pytest.mark.parametrize(
    "name", ["OPENAI_BASE_URL", "MISTRAL_BASE_URL", "QIANFAN_BASE_URL", "XAI_BASE_URL", "GROQ_BASE_URL"]
)
def test_every_provider_base_url_is_checked(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "not a url")
    with pytest.raises(ConfigError, match=f"^{name}: "):
        load_settings(_env_file=None)


def test_blank_values_mean_the_default_and_keys_lose_stray_whitespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`.env.example` lists `OPENAI_API_KEY=` and the like: copied as is, they must change nothing."""
    for name in ("DEFAULT_CAP_USD", "CAP_PERIOD", "DATABASE_URL", "AZURE_OPENAI_API_VERSION"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "  ")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-pasted\n")
    settings = load_settings(_env_file=None)
    assert settings.default_cap_usd == Decimal("1.00")
    assert settings.cap_period == "monthly"
    assert settings.database_url == "sqlite:///data/capbot.db"
    assert settings.azure_openai_api_version == "2024-10-21"
    assert settings.telegram_bot_token is None
    assert settings.secret("OPENAI_API_KEY") == "sk-pasted"


@pytest.mark.parametrize("kind", ["a directory", "not a database"])
def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path, kind: str) -> None:
    """One line and exit 2, and no hang: a half-opened connection's thread must not outlive the error."""
    path = tmp_path / "capbot.db"
    if kind == "a directory":
        path.mkdir()
    else:
        path.write_text("plain text where the owner pointed DATABASE_URL by mistake\n" * 20)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="/spend\n",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{path}"},
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"capbot: DATABASE_URL: cannot open {path}: "
        + ("unable to open database file" if kind == "a directory" else "file is not a database")
    ]
