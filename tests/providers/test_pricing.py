"""Pricing: the owner's PRICES_FILE for models genai-prices lacks, and refusing what has no price."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ledger import Quote
from bot.pricing import MTOK, PriceFileError, Pricer, UnpricedModel, _Override, describe
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


def hold_for(quote: Quote) -> int:
    """The hold the ledger takes for a quote when nothing clamps it (as `Ledger._fit` does)."""
    return quote.input_nanos + math.ceil(quote.output_nanos_per_token * quote.max_output_tokens)


def test_a_tiered_model_is_reserved_at_its_dearest_tier() -> None:
    """gemini-2.5-pro: $1.25/$10 up to 200k input tokens, $2.50/$15 above. A small prompt still holds
    the dearer tier; its settled cost is the cheaper one it really fell in."""
    prices = Pricer.from_file(None)
    quote = prices.quote(
        "google/gemini-2.5-pro", "google", input_tokens=1000, max_output_tokens=100, min_output_tokens=1
    )
    assert quote.input_nanos == 2_500_000  # 1000 × $2.50 per million
    assert quote.output_nanos_per_token == 15_000  # $15 per million
    small = TokenUsage(input_tokens=1000, output_tokens=100)
    assert prices.cost("google/gemini-2.5-pro", "google", small) == 1_250_000 + 1_000_000
    large = TokenUsage(input_tokens=250_000, output_tokens=10)  # past 200k every token pays the top tier
    assert prices.cost("google/gemini-2.5-pro", "google", large) == 625_000_000 + 150_000


def test_cached_input_is_priced_at_the_cache_rates_on_settle() -> None:
    prices = Pricer.from_file(None)
    read = TokenUsage(input_tokens=1000, cache_read_tokens=600, output_tokens=10)
    # 400 × $1.25 + 600 cached × $0.125 + 10 × $10, per million
    assert prices.cost("google/gemini-2.5-pro", "google", read) == 500_000 + 75_000 + 100_000
    written = TokenUsage(input_tokens=1000, cache_read_tokens=200, cache_write_tokens=400, output_tokens=10)
    # 400 plain × $3 + 200 read × $0.30 + 400 written × $3.75 + 10 × $15, per million
    cost = prices.cost("anthropic/claude-sonnet-4-5", "anthropic", written)
    assert cost == 1_200_000 + 60_000 + 1_500_000 + 150_000
    # and the worst case holds every input token at the dearest rate: a cache write in the top tier
    quote = prices.quote(
        "anthropic/claude-sonnet-4-5",
        "anthropic",
        input_tokens=1000,
        max_output_tokens=10,
        min_output_tokens=1,
    )
    assert quote.input_nanos == 7_500_000 and hold_for(quote) >= cost


def test_reasoning_tokens_are_priced_at_the_reasoning_rate() -> None:
    """sonar-deep-research: output $8, reasoning $3 per million. Output tokens include reasoning ones."""
    prices = Pricer.from_file(None)
    usage = TokenUsage(input_tokens=1000, output_tokens=600, reasoning_tokens=400)
    # 1000 × $2 + 200 answer tokens × $8 + 400 reasoning tokens × $3, per million
    assert (
        prices.cost("perplexity/sonar-deep-research", "perplexity", usage)
        == 2_000_000 + 1_600_000 + 1_200_000
    )
    quote = prices.quote(
        "perplexity/sonar-deep-research",
        "perplexity",
        input_tokens=1000,
        max_output_tokens=600,
        min_output_tokens=1,
    )
    assert quote.output_nanos_per_token == 8000  # the dearer of the two rates


def test_the_worst_case_takes_the_reasoning_rate_when_it_is_the_dearer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No bundled model prices reasoning above output today; a price table that does must still hold."""
    real = genai_prices.calc_price

    def dear_thinking(usage: genai_prices.Usage, model: str, **kw: object) -> object:
        priced = real(usage, model, **kw)  # type: ignore[arg-type]
        thinking = Decimal(getattr(usage, "output_reasoning_tokens", None) or 0)
        extra = thinking * Decimal(20) / MTOK  # reasoning costs $20 more per million than output
        return SimpleNamespace(
            input_price=priced.input_price,
            output_price=priced.output_price + extra,
            total_price=priced.total_price + extra,
        )

    monkeypatch.setattr("bot.pricing.genai_prices.calc_price", dear_thinking)
    prices = Pricer.from_file(None)
    quote = prices.quote(
        "openai/gpt-4o-mini", "openai", input_tokens=10, max_output_tokens=100, min_output_tokens=1
    )
    assert quote.output_nanos_per_token == 600 + 20_000
    usage = TokenUsage(input_tokens=10, output_tokens=100, reasoning_tokens=100)
    assert prices.cost("openai/gpt-4o-mini", "openai", usage) <= hold_for(quote)


def test_a_per_request_fee_is_part_of_the_worst_case() -> None:
    """perplexity/sonar charges $12 per thousand requests on top of tokens: the hold must cover it."""
    prices = Pricer.from_file(None)
    quote = prices.quote(
        "perplexity/sonar", "perplexity", input_tokens=100, max_output_tokens=10, min_output_tokens=1
    )
    cost = prices.cost("perplexity/sonar", "perplexity", TokenUsage(input_tokens=100, output_tokens=10))
    assert cost == 12_000_000 + 100_000 + 10_000
    assert quote.input_nanos == 12_000_000 + 100_000
    assert hold_for(quote) == cost


def test_a_price_becomes_an_amount_rounded_up_never_down() -> None:
    prices = Pricer.from_file(None)
    # one input token at $0.0375 per million is 37.5 nano-dollars: charged 38
    assert prices.cost("google/gemini-flash-1.5-8b", "google", TokenUsage(input_tokens=1)) == 38
    override = Pricer({"x/y": _Override(Decimal("0.0001"), Decimal("0.0003"), Decimal("0.0001"), None)})
    assert override.cost("x/y", None, TokenUsage(input_tokens=1, output_tokens=1)) == 1  # 0.4 nano → 1
    quote = override.quote("x/y", None, input_tokens=3, max_output_tokens=1, min_output_tokens=1)
    assert quote.input_nanos == 1  # 0.3 nano → 1


TIERED = [
    ("google/gemini-2.5-pro", "google"),
    ("anthropic/claude-sonnet-4-5", "anthropic"),
    ("openai/gpt-5.4", "openai"),
    ("openai/gpt-4o-mini", "openai"),
    ("perplexity/sonar-deep-research", "perplexity"),
    ("perplexity/sonar", "perplexity"),
]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    model=st.sampled_from(TIERED),
    bound=st.integers(0, 400_000),
    max_output=st.integers(1, 64_000),
    data=st.data(),
)
def test_no_usage_within_the_bounds_costs_more_than_the_hold(
    model: tuple[str, str], bound: int, max_output: int, data: st.DataObject
) -> None:
    """Whatever a provider reports within the input bound and the output limit, cost ≤ hold: tiers,
    cache reads and writes, reasoning and fees included."""
    model_id, provider = model
    prices = Pricer.from_file(None)
    quote = prices.quote(
        model_id, provider, input_tokens=bound, max_output_tokens=max_output, min_output_tokens=1
    )
    used_in = data.draw(st.integers(0, bound))
    read = data.draw(st.integers(0, used_in))
    written = data.draw(st.integers(0, used_in - read))
    out = data.draw(st.integers(0, max_output))
    thinking = data.draw(st.integers(0, out))
    usage = TokenUsage(used_in, read, written, out, thinking)
    assert prices.cost(model_id, provider, usage) <= hold_for(quote)
