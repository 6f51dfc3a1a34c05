"""Pricing: the owner's PRICES_FILE for models genai-prices lacks, and refusing what has no price."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import genai_prices
import pytest
from genai_prices import data_snapshot, update_prices
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.types import _providers_from_raw
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.__main__ import main
from bot.commands.model import catalog_menu
from bot.config import ConfigError, load_settings
from bot.ledger import Quote
from bot.money import usd_to_nanos
from bot.pricing import (
    MTOK,
    NO_PRICE,
    PER_SEARCH,
    UNCOUNTED_OUTPUT,
    PriceFileError,
    PriceFileRow,
    Pricer,
    UnpricedModel,
    describe,
    price_updates,
)
from bot.providers.base import TokenUsage
from bot.providers.catalog import BY_NAME, CATALOG
from bot.providers.transcription import AudioUsage
from tests.doubles import Clock, eventually
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import check_invariants, harness

PRICES_TOML = tomllib.loads(resources.files("bot").joinpath("prices.toml").read_text())["models"]
# a moment outside every price window boundary of the bundled data
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

QWEN_NEW = """
[models."dashscope/qwen-new"]
input = "1"
output = "2"
cached_input = "0.5"
context_window = 65536
"""


# A model priced the way no usable bundled one is (reasoning apart from output), in genai-prices' format.
THINKER = {
    "id": "thinker",
    "match": {"equals": "thinker"},
    "prices": {"input_mtok": 2, "output_mtok": 8, "output_reasoning_mtok": 3},
}


@contextmanager
def extra_models(*models: dict[str, Any]) -> Iterator[None]:
    """The bundled genai-prices data plus a provider "capbot-test" with these models."""
    bundled = data_snapshot.get_snapshot()
    raw = [
        {
            "id": "capbot-test",
            "name": "capbot test",
            "api_pattern": r"https://capbot\.test",
            "models": list(models),
        }
    ]
    test_provider = _providers_from_raw(raw)
    data_snapshot.set_custom_snapshot(
        DataSnapshot([*bundled.providers, *test_provider], from_auto_update=False)
    )
    try:
        yield
    finally:
        data_snapshot.set_custom_snapshot(None)


def pricer(tmp_path: Path, text: str) -> Pricer:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    return Pricer.from_file(path)


def test_the_owners_file_prices_a_model_genai_prices_lacks(tmp_path: Path) -> None:
    usage = TokenUsage(input_tokens=1000, cache_read_tokens=400, output_tokens=500)
    with pytest.raises(UnpricedModel):
        Pricer.from_file(None).cost("dashscope/qwen-new", None, usage, at=AT)
    prices = pricer(tmp_path, QWEN_NEW)
    # 600 uncached × $1 + 400 cached × $0.50 + 500 out × $2, per million tokens = $0.0018
    assert prices.cost("dashscope/qwen-new", None, usage, at=AT) == 1_800_000
    rates = prices.rates("dashscope/qwen-new", None)
    assert (rates.input, rates.output, rates.cached_input) == (Decimal(1), Decimal(2), Decimal("0.5"))
    assert rates.context_window == 65536 and rates.source.kind == "file"
    assert str(rates.source) == f"{tmp_path / 'prices.toml'} (PRICES_FILE)"
    assert describe(rates) == "$1/$2 per 1M in/out"


def test_the_owners_file_wins_over_the_bundled_one(tmp_path: Path) -> None:
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert Pricer.from_file(None).cost("ollama/llama3.2", None, usage, at=AT) == 0  # local: free by default
    priced = pricer(tmp_path, '[models."ollama/llama3.2"]\ninput = "0.10"\noutput = "0.30"\n')
    assert priced.cost("ollama/llama3.2", None, usage, at=AT) == 400_000_000
    assert priced.cost("ollama/other", None, usage, at=AT) == 0  # "ollama/*" still covers the rest


def test_the_worst_case_of_an_override_uses_the_dearer_input_rate(tmp_path: Path) -> None:
    prices = pricer(tmp_path, '[models."x/y"]\ninput = "1"\noutput = "4"\ncached_input = "3"\n')
    quote = prices.quote("x/y", None, at=AT, input_tokens=1000, max_output_tokens=100, min_output_tokens=10)
    assert quote.input_nanos == 3_000_000  # 1000 tokens, each at the dearer $3 per million: $0.003
    assert quote.output_nanos_per_token == Decimal(4000)


def test_a_model_nobody_prices_is_refused(tmp_path: Path) -> None:
    prices = Pricer.from_file(None)
    for model, source in (("openai/gpt-unpriced-9", "openai"), ("qianfan/ernie-unknown", None)):
        with pytest.raises(UnpricedModel) as refused:
            prices.rates(model, source)
        assert refused.value.model_id == model
        with pytest.raises(UnpricedModel):
            prices.cost(model, source, TokenUsage(input_tokens=1, output_tokens=1), at=AT)


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
        "google/gemini-2.5-pro",
        "google",
        at=AT,
        input_tokens=1000,
        max_output_tokens=100,
        min_output_tokens=1,
    )
    assert quote.input_nanos == 2_500_000  # 1000 × $2.50 per million
    assert quote.output_nanos_per_token == 15_000  # $15 per million
    small = TokenUsage(input_tokens=1000, output_tokens=100)
    assert prices.cost("google/gemini-2.5-pro", "google", small, at=AT) == 1_250_000 + 1_000_000
    large = TokenUsage(input_tokens=250_000, output_tokens=10)  # past 200k every token pays the top tier
    assert prices.cost("google/gemini-2.5-pro", "google", large, at=AT) == 625_000_000 + 150_000


def test_cached_input_is_priced_at_the_cache_rates_on_settle() -> None:
    prices = Pricer.from_file(None)
    read = TokenUsage(input_tokens=1000, cache_read_tokens=600, output_tokens=10)
    # 400 × $1.25 + 600 cached × $0.125 + 10 × $10, per million
    assert prices.cost("google/gemini-2.5-pro", "google", read, at=AT) == 500_000 + 75_000 + 100_000
    written = TokenUsage(input_tokens=1000, cache_read_tokens=200, cache_write_tokens=400, output_tokens=10)
    # 400 plain × $3 + 200 read × $0.30 + 400 written × $3.75 + 10 × $15, per million
    cost = prices.cost("anthropic/claude-sonnet-4-5", "anthropic", written, at=AT)
    assert cost == 1_200_000 + 60_000 + 1_500_000 + 150_000
    # and the worst case holds every input token at the dearest rate: a cache write in the top tier
    quote = prices.quote(
        "anthropic/claude-sonnet-4-5",
        "anthropic",
        at=AT,
        input_tokens=1000,
        max_output_tokens=10,
        min_output_tokens=1,
    )
    assert quote.input_nanos == 7_500_000 and hold_for(quote) >= cost


def test_reasoning_tokens_are_priced_at_the_reasoning_rate() -> None:
    """A model priced $2 in, $8 out and $3 reasoning per million (the bundled ones that price reasoning
    apart, Perplexity's deep research, are refused for their searches). Output tokens include reasoning."""
    with extra_models(THINKER):
        prices = Pricer.from_file(None)
        usage = TokenUsage(input_tokens=1000, output_tokens=600, reasoning_tokens=400)
        # 1000 × $2 + 200 answer tokens × $8 + 400 reasoning tokens × $3, per million
        assert (
            prices.cost("capbot-test/thinker", "capbot-test", usage, at=AT)
            == 2_000_000 + 1_600_000 + 1_200_000
        )
        quote = prices.quote(
            "capbot-test/thinker",
            "capbot-test",
            at=AT,
            input_tokens=1000,
            max_output_tokens=600,
            min_output_tokens=1,
        )
        assert quote.output_nanos_per_token == 8000  # the dearer of the two rates
        rates = prices.rates("capbot-test/thinker", "capbot-test")
        assert (rates.output, rates.reasoning) == (Decimal(8), Decimal(3))


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

    monkeypatch.setattr(genai_prices, "calc_price", dear_thinking)
    prices = Pricer.from_file(None)
    quote = prices.quote(
        "openai/gpt-4o-mini",
        "openai",
        at=AT,
        input_tokens=10,
        max_output_tokens=100,
        min_output_tokens=1,
    )
    assert quote.output_nanos_per_token == 600 + 20_000
    usage = TokenUsage(input_tokens=10, output_tokens=100, reasoning_tokens=100)
    assert prices.cost("openai/gpt-4o-mini", "openai", usage, at=AT) <= hold_for(quote)


def test_a_per_request_fee_is_part_of_the_worst_case() -> None:
    """perplexity/sonar charges $12 per thousand requests on top of tokens: the hold must cover it."""
    prices = Pricer.from_file(None)
    quote = prices.quote(
        "perplexity/sonar",
        "perplexity",
        at=AT,
        input_tokens=100,
        max_output_tokens=10,
        min_output_tokens=1,
    )
    cost = prices.cost(
        "perplexity/sonar", "perplexity", TokenUsage(input_tokens=100, output_tokens=10), at=AT
    )
    assert cost == 12_000_000 + 100_000 + 10_000
    assert quote.input_nanos == 12_000_000 + 100_000
    assert hold_for(quote) == cost


def test_a_price_becomes_an_amount_rounded_up_never_down() -> None:
    prices = Pricer.from_file(None)
    # one input token at $0.0375 per million is 37.5 nano-dollars: charged 38
    assert prices.cost("google/gemini-flash-1.5-8b", "google", TokenUsage(input_tokens=1), at=AT) == 38
    override = Pricer({"x/y": PriceFileRow(Decimal("0.0001"), Decimal("0.0003"), Decimal("0.0001"), None)})
    assert override.cost("x/y", None, TokenUsage(input_tokens=1, output_tokens=1), at=AT) == 1  # 0.4 nano → 1
    quote = override.quote("x/y", None, at=AT, input_tokens=3, max_output_tokens=1, min_output_tokens=1)
    assert quote.input_nanos == 1  # 0.3 nano → 1


TIERED = [
    ("google/gemini-2.5-pro", "google"),
    ("anthropic/claude-sonnet-4-5", "anthropic"),
    ("openai/gpt-5.4", "openai"),
    ("openai/gpt-4o-mini", "openai"),
    ("capbot-test/thinker", "capbot-test"),
    ("perplexity/sonar", "perplexity"),
    ("deepseek/deepseek-chat", "deepseek"),
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
    with extra_models(THINKER):
        check_cost_within_hold(model_id, provider, bound, max_output, data)


def check_cost_within_hold(
    model_id: str, provider: str, bound: int, max_output: int, data: st.DataObject
) -> None:
    prices = Pricer.from_file(None)
    quote = prices.quote(
        model_id,
        provider,
        at=AT,
        input_tokens=bound,
        max_output_tokens=max_output,
        min_output_tokens=1,
    )
    used_in = data.draw(st.integers(0, bound))
    read = data.draw(st.integers(0, used_in))
    written = data.draw(st.integers(0, used_in - read))
    out = data.draw(st.integers(0, max_output))
    thinking = data.draw(st.integers(0, out))
    usage = TokenUsage(used_in, read, written, out, thinking)
    assert prices.cost(model_id, provider, usage, at=AT) <= hold_for(quote)


# DeepSeek's off-peak window in genai-prices: 16:30-00:30 UTC at about half the price of the day.
BEFORE_PEAK = datetime(2026, 11, 23, 0, 29, tzinfo=UTC)
AFTER_PEAK_STARTS = datetime(2026, 11, 23, 0, 31, tzinfo=UTC)


def test_the_bundled_data_has_deepseeks_off_peak_window() -> None:
    _, model = data_snapshot.get_snapshot().find_provider_model("deepseek-chat", None, "deepseek", None)
    off_peak, peak = model.get_prices(BEFORE_PEAK), model.get_prices(AFTER_PEAK_STARTS)
    assert (off_peak.input_mtok, peak.input_mtok) == (Decimal("0.135"), Decimal("0.27"))


def test_a_request_is_charged_the_prices_of_its_start_across_a_price_window() -> None:
    """Quoted off-peak, finished after the window closed: the charge is the off-peak one the hold covers;
    priced at its end it would be about twice the hold."""
    prices = Pricer.from_file(None)
    model = ("deepseek/deepseek-chat", "deepseek")
    quote = prices.quote(
        *model, at=BEFORE_PEAK, input_tokens=1000, max_output_tokens=500, min_output_tokens=1
    )
    usage = TokenUsage(input_tokens=1000, output_tokens=500)
    cost = prices.cost(*model, usage, at=BEFORE_PEAK)
    assert cost == 135_000 + 275_000 == hold_for(quote)  # $0.135 and $0.55 per million
    assert prices.cost(*model, usage, at=AFTER_PEAK_STARTS) == 270_000 + 550_000 > hold_for(quote)
    assert prices.rates(*model, BEFORE_PEAK).scheduled


async def test_ask_prices_hold_and_charge_at_the_requests_start(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """Through the core: the answer starts at 00:29:30 UTC, off-peak, and its usage arrives at 00:31:30."""
    gate = asyncio.Event()
    fake_openai.then(Script(text="Cheap hours.", prompt_tokens=300, completion_tokens=200, hold=gate))
    settings = {
        "deepseek_api_key": "sk-deepseek-test-0123456789",
        "deepseek_base_url": fake_openai.url,
        "default_model": "deepseek/deepseek-chat",
    }
    clock = Clock(BEFORE_PEAK + timedelta(seconds=30))
    async with harness(tmp_path, clock, **settings) as h:
        asking = asyncio.create_task(h.say("/ask when is it cheap?", user="telegram:2"))
        await eventually(lambda: bool(fake_openai.requests), "the request")
        held = (await h.ledger.summary("telegram:2")).held
        clock.advance(minutes=2)  # past 00:30: the peak price applies to requests starting now
        gate.set()
        assert (await asking).answers == ["Cheap hours. "]
        spent = (await h.ledger.summary("telegram:2")).spent
        off_peak = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=300, output_tokens=200),
            "deepseek-chat",
            provider_id="deepseek",
            genai_request_timestamp=BEFORE_PEAK,
        )
        assert spent == usd_to_nanos(off_peak.total_price) <= held
        await check_invariants(h.ledger)


@pytest.mark.parametrize(
    ("model_id", "provider", "reason"),
    [
        ("openai/gpt-4o-search-preview", "openai", PER_SEARCH),  # no search fee in genai-prices at all
        ("openai/o3-deep-research", "openai", PER_SEARCH),  # priced per search, a count capbot never gets
        ("openrouter/openai/gpt-4o-mini-search-preview", "openrouter", PER_SEARCH),
        ("openrouter/nousresearch/hermes-3-llama-3.1-405b:free", "openrouter", NO_PRICE),  # empty prices
        ("mistral/mistral-ocr-latest", "mistral", NO_PRICE),  # per page only
        ("groq/whisper-large-v3", "groq", NO_PRICE),  # per audio hour only
        ("openai/tts-1", "openai", NO_PRICE),  # per character only
        ("google/gemini-2.5-flash-image", "google", UNCOUNTED_OUTPUT),  # image output
        ("perplexity/sonar-deep-research", "perplexity", UNCOUNTED_OUTPUT),  # citation tokens, and searches
    ],
)
def test_a_model_that_cant_be_charged_in_full_is_refused(model_id: str, provider: str, reason: str) -> None:
    prices = Pricer.from_file(None)
    usage = TokenUsage(input_tokens=10, output_tokens=10)
    for attempt in (
        lambda: prices.rates(model_id, provider),
        lambda: prices.quote(
            model_id, provider, at=AT, input_tokens=10, max_output_tokens=10, min_output_tokens=1
        ),
        lambda: prices.cost(model_id, provider, usage, at=AT),
    ):
        with pytest.raises(UnpricedModel) as refused:
            attempt()
        assert refused.value.reason == reason and "\n" not in str(refused.value)


def test_the_owner_can_price_a_model_that_searches_with_a_fee_per_request(tmp_path: Path) -> None:
    prices = pricer(
        tmp_path,
        '[models."openai/gpt-4o-search-preview"]\ninput = "2.5"\noutput = "10"\nper_request = "0.03"\n',
    )
    model = ("openai/gpt-4o-search-preview", "openai")
    quote = prices.quote(*model, at=AT, input_tokens=100, max_output_tokens=10, min_output_tokens=1)
    cost = prices.cost(*model, TokenUsage(input_tokens=100, output_tokens=10), at=AT)
    assert cost == 30_000_000 + 250_000 + 100_000 == hold_for(quote)  # the fee is held and charged
    assert describe(prices.rates(*model)) == "$2.5/$10 per 1M in/out + $0.03 per request"


def test_zero_means_free_only_where_someone_said_so(tmp_path: Path) -> None:
    """The owner's file may say 0; the bundled one only for providers free by design (`free = true`)."""
    usage = TokenUsage(input_tokens=1000, output_tokens=1000)
    bundled = Pricer.from_file(None)
    assert bundled.cost("ollama/llama3.2", None, usage, at=AT) == 0
    assert "free by design" in str(bundled.rates("ollama/llama3.2", None).source)
    with pytest.raises(UnpricedModel):
        bundled.rates("qianfan/ernie-speed-128k", None)
    owners = pricer(tmp_path, '[models."qianfan/ernie-speed-128k"]\ninput = "0"\noutput = "0"\n')
    assert describe(owners.rates("qianfan/ernie-speed-128k", None)) == "free"
    not_meant = Pricer({"x/y": PriceFileRow(Decimal(0), Decimal(0), Decimal(0), None)})  # a bundled row
    with pytest.raises(UnpricedModel):
        not_meant.rates("x/y", None)
    for model_id, row in PRICES_TOML.items():
        prices = (Decimal(str(row.get(key, 0))) for key in ("input", "output", "audio_minute"))
        assert any(price > 0 for price in prices) or row.get("free") is True, model_id


def test_a_price_by_the_minute_prices_transcriptions_and_never_a_chat(tmp_path: Path) -> None:
    """Whisper is billed by the minute of audio: such a row holds and charges seconds, and a chat with
    that model is refused rather than priced at zero tokens."""
    owners = pricer(tmp_path, '[models."groq/whisper-large-v3"]\naudio_minute = "0.00185"\n')
    quote = owners.transcription_quote(
        "groq/whisper-large-v3", None, at=AT, seconds=Decimal(120), audio_tokens=3000, output_tokens=1264
    )
    assert quote.worst_case(1) == 3_700_000  # two minutes at $0.00185
    cost = owners.transcription_cost("groq/whisper-large-v3", None, AudioUsage(seconds=Decimal(30)), at=AT)
    assert cost == 925_000
    assert owners.transcription_cost("groq/whisper-large-v3", None, AudioUsage(input_tokens=9), at=AT) is None
    with pytest.raises(UnpricedModel):
        owners.rates("groq/whisper-large-v3", None)
    with pytest.raises(UnpricedModel):
        Pricer.from_file(None).quote(
            "openai/whisper-1", "openai", at=AT, input_tokens=10, max_output_tokens=10, min_output_tokens=1
        )


def test_a_fee_per_thousand_requests_is_held_and_charged() -> None:
    """genai-prices' requests_kcount (Perplexity's sonar: $12 per thousand requests) is one request's fee."""
    prices = Pricer.from_file(None)
    rates = prices.rates("perplexity/sonar", "perplexity")
    assert rates.per_request == Decimal("0.012")
    assert describe(rates) == "$1/$1 per 1M in/out + $0.012 per request"


def test_qwen_cached_input_is_alibabas_implicit_cache_rate() -> None:
    """20% of the input price (Model Studio's implicit cache), not the full input price."""
    prices = Pricer.from_file(None)
    usage = TokenUsage(input_tokens=1000, cache_read_tokens=600, output_tokens=0)
    # 400 × $0.40 + 600 cached × $0.08, per million
    assert prices.cost("dashscope/qwen-plus", None, usage, at=AT) == 160_000 + 48_000


async def test_every_model_the_menu_lists_has_a_token_price_or_is_local(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        spec.key_env.lower(): f"sk-{spec.name}-test-0123456789" for spec in CATALOG if spec.key_env
    }
    settings |= {"azure_openai_endpoint": fake_openai.url, "ollama_base_url": fake_openai.url}
    async with harness(tmp_path, **settings) as h:
        services = h.core.services
        assert {spec.name for spec in services.providers.configured()} == {spec.name for spec in CATALOG}
        listed = [
            item.command.removeprefix("/model ")
            for group in catalog_menu(services, "").groups
            for item in group.items
        ]
        assert "openai/gpt-4o-mini" in listed and "ollama/llama3.2" in listed
        for model_id in listed:
            rates = services.pricer.rates(model_id, BY_NAME[model_id.split("/")[0]].price_provider)
            assert rates.input > 0 or rates.output > 0 or model_id.startswith("ollama/"), model_id
        refused = await h.say("/model openai/gpt-4o-search-preview")
        assert refused.lines == [
            f"Can't use openai/gpt-4o-search-preview: {PER_SEARCH}. "
            "Send /model to see the models you can pick."
        ]


class PriceData(http.server.BaseHTTPRequestHandler):
    """A stand-in for genai-prices' data URL on 127.0.0.1: /data.json answers, anything else is a 500."""

    def do_GET(self) -> None:
        if self.path != "/data.json":
            self.send_error(500)
            return
        model = {**THINKER, "id": "gpt-4o-mini", "match": {"equals": "gpt-4o-mini"}}
        raw = [{"id": "openai", "name": "OpenAI", "api_pattern": "x", "models": [model]}]
        body = json.dumps(raw).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def price_data() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PriceData)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        data_snapshot.set_custom_snapshot(None)
        # genai-prices' one background thread exits once no updater holds it; the next test starts afresh
        deadline = time.monotonic() + 10
        while update_prices._shared_updater.thread is not None and time.monotonic() < deadline:
            time.sleep(0.01)


def test_fetched_price_data_is_used_when_prices_update_is_on(price_data: str) -> None:
    with price_updates(True, f"{price_data}/data.json", wait=10):
        assert data_snapshot.get_snapshot().from_auto_update
        rates = Pricer.from_file(None).rates("openai/gpt-4o-mini", "openai")
        assert (rates.input, rates.output) == (Decimal(2), Decimal(8))
        assert str(rates.source).startswith("genai-prices data fetched ")


def test_a_failed_fetch_keeps_the_bundled_data_and_logs_one_line(
    price_data: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), price_updates(True, f"{price_data}/missing.json", wait=10):
        assert not data_snapshot.get_snapshot().from_auto_update
        rates = Pricer.from_file(None).rates("openai/gpt-4o-mini", "openai")
        assert (rates.input, str(rates.source)) == (
            Decimal("0.15"),
            f"genai-prices {genai_prices.__version__} (bundled data)",
        )
        # genai-prices logs the failure just after it wakes the waiters
        deadline = time.monotonic() + 10
        while not (failures := [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]):
            assert time.monotonic() < deadline, "no failure logged"
            time.sleep(0.01)
    assert len(failures) == 1 and "\n" not in failures[0]


async def test_price_updates_are_off_unless_asked_for(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        assert h.settings.prices_update is False
        assert update_prices._shared_updater.thread is None


@pytest.mark.parametrize(
    ("name", "value"), [("PRICES_UPDATE", "sometimes"), ("PRICES_UPDATE_URL", "raw.githubusercontent.com/x")]
)
def test_a_bad_price_update_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as bad:
        load_settings(_env_file=None)
    assert str(bad.value).startswith(f"{name}: ") and "\n" not in str(bad.value)


def test_the_prices_cli_shows_rates_sources_and_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "mine.toml"
    own.write_text(
        '[models."qianfan/ernie-speed-128k"]\ninput = "0"\noutput = "0"\ncontext_window = 131072\n'
    )
    os.environ["PRICES_FILE"] = str(own)  # removed again by the autouse clean_environment fixture
    models = [
        "google/gemini-2.5-pro",
        "qianfan/ernie-speed-128k",
        "openai/gpt-4o-search-preview",
        "nowhere/x",
    ]
    assert main(["prices", *models]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Prices in use at ")
    block = out.split("\n\n")[1].splitlines()
    assert block == [
        "google/gemini-2.5-pro",
        f"  source:         genai-prices {genai_prices.__version__} (bundled data)",
        "  input:          $1.25",
        "  cached input:   $0.125",
        "  cache write:    $1.25 (as input)",
        "  output:         $10",
        "  reasoning:      $10 (as output)",
        "  per request:    none",
        "  tiers:",
        "    above 200,000 input tokens: input $2.5, cached input $0.25, output $15",
        "  context window: unknown",
    ]
    assert f"  source:         {own} (PRICES_FILE)" in out
    assert (
        f"openai/gpt-4o-search-preview: refused: {PER_SEARCH}; set its price in PRICES_FILE to use it" in out
    )
    assert "nowhere/x: refused: there is no provider called 'nowhere'" in out
    assert main(["prices", "google/gemini-2.5-pro"]) == 0
