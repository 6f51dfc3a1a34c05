import subprocess
import sys
from decimal import Decimal

import pytest

from bot.config import ConfigError, load_settings


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
        ("DEFAULT_CAP_USD", "-1", "DEFAULT_CAP_USD"),
        ("CAP_PERIOD", "hourly", "CAP_PERIOD"),
        ("MAX_OUTPUT_TOKENS", "0", "MAX_OUTPUT_TOKENS"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("PORT", "99999", "PORT"),
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


def test_bad_settings_stop_start_up_without_a_traceback(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--demo"],
        input="",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CAP_PERIOD": "fortnightly"},
        cwd=str(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "capbot: configuration error: CAP_PERIOD: Input should be 'daily', 'weekly', 'monthly' or 'total'"
    ]
    assert "Traceback" not in result.stderr
