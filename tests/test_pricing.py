"""Pricing: the owner's PRICES_FILE for models genai-prices lacks, and refusing what has no price."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.pricing import PriceFileError, Pricer, UnpricedModel, describe
from bot.providers.base import TokenUsage

QWEN_NEW = """
[models."dashscope/qwen-new"]
input = "1"
output = "2"
cached_input = "0.5"
context_window = 65536
"""


def pricer(tmp_path: Path, text: str) -> Pricer:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    return Pricer.from_file(path)


def test_the_owners_file_prices_a_model_genai_prices_lacks(tmp_path: Path) -> None:
    usage = TokenUsage(input_tokens=1000, cache_read_tokens=400, output_tokens=500)
    with pytest.raises(UnpricedModel):
        Pricer.from_file(None).cost("dashscope/qwen-new", None, usage)
    prices = pricer(tmp_path, QWEN_NEW)
    # 600 uncached × $1 + 400 cached × $0.50 + 500 out × $2, per million tokens = $0.0018
    assert prices.cost("dashscope/qwen-new", None, usage) == 1_800_000
    rates = prices.rates("dashscope/qwen-new", None)
    assert (rates.input, rates.output, rates.cached_input) == (Decimal(1), Decimal(2), Decimal("0.5"))
    assert rates.context_window == 65536 and rates.source == "overrides"
    assert describe(rates) == "$1/$2 per 1M in/out"


def test_the_owners_file_wins_over_the_bundled_one(tmp_path: Path) -> None:
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert Pricer.from_file(None).cost("ollama/llama3.2", None, usage) == 0  # local: free by default
    priced = pricer(tmp_path, '[models."ollama/llama3.2"]\ninput = "0.10"\noutput = "0.30"\n')
    assert priced.cost("ollama/llama3.2", None, usage) == 400_000_000
    assert priced.cost("ollama/other", None, usage) == 0  # "ollama/*" still covers the rest


def test_the_worst_case_of_an_override_uses_the_dearer_input_rate(tmp_path: Path) -> None:
    prices = pricer(tmp_path, '[models."x/y"]\ninput = "1"\noutput = "4"\ncached_input = "3"\n')
    quote = prices.quote("x/y", None, input_tokens=1000, max_output_tokens=100, min_output_tokens=10)
    assert quote.input_nanos == 3_000_000  # 1000 tokens, each at the dearer $3 per million: $0.003
    assert quote.output_nanos_per_token == Decimal(4000)


def test_a_model_nobody_prices_is_refused(tmp_path: Path) -> None:
    prices = Pricer.from_file(None)
    for model, source in (("openai/gpt-unpriced-9", "openai"), ("qianfan/ernie-unknown", None)):
        with pytest.raises(UnpricedModel) as refused:
            prices.rates(model, source)
        assert refused.value.model_id == model
        with pytest.raises(UnpricedModel):
            prices.cost(model, source, TokenUsage(input_tokens=1, output_tokens=1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[models", "not valid TOML"),
        ('[models."a/b"]\ninput = "1"\n', "a/b: 'output' is missing"),
        ('[models."a/b"]\ninput = "-1"\noutput = "1"\n', "a/b: 'input' must be a price of zero or more"),
        ('[models."a/b"]\ninput = "NaN"\noutput = "1"\n', "a/b: 'input' must be a price of zero or more"),
        ('[models."a/b"]\ninput = "cheap"\noutput = "1"\n', "a/b: 'input' is not a number: 'cheap'"),
        ('[models."ab"]\ninput = "1"\noutput = "1"\n', 'ab: expected [models."provider/model"]'),
        ('[models."a/b"]\ninput = 1\noutput = 1\ncontext_window = -5\n', "context_window must be a positive"),
    ],
)
def test_a_bad_price_file_is_one_line_naming_file_and_model(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PriceFileError) as bad:
        pricer(tmp_path, text)
    line = str(bad.value)
    assert line.startswith(str(tmp_path / "prices.toml")) and message in line and "\n" not in line


def test_a_missing_price_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PRICES_FILE": str(tmp_path / "nowhere.toml")}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--demo"],
        input="/spend\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"capbot: configuration error: PRICES_FILE: cannot read {tmp_path / 'nowhere.toml'}: "
        "No such file or directory"
    ]
