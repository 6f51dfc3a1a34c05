"""Every provider in the catalog, through the real core, against the fake server of its wire format.

Each case configures one provider's key and base URL the way an owner would, asks through `/ask`, and
checks what went over the wire (URL, query, auth header, model, output limit) and what came back: the
streamed answer and a charge equal, to the nano-dollar, to the price of the usage the fake reported in
that provider's documented shape (tests/providers/documented_usage.py), computed here without
`bot.pricing` (genai-prices directly, OpenRouter's reported cost, or the numbers in bot/prices.toml).
Then the same with the most reasoning the output limit allows, which must settle within the hold; then
`/model`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import genai_prices
import pytest

from bot.providers.anthropic import API_VERSION
from bot.providers.base import TokenUsage
from bot.providers.catalog import BY_NAME, CATALOG, CatalogError, ProviderSpec, UsageReading, load_catalog
from bot.providers.openai_compat import usage_from
from tests.fakes import llm_anthropic, llm_gemini, llm_openai
from tests.fakes.llm_anthropic import FakeAnthropic
from tests.fakes.llm_gemini import FakeGemini
from tests.fakes.llm_openai import FakeOpenAI
from tests.fakes.llm_server import Recorded
from tests.harness import Harness, check_invariants, harness, snapshot, spy_reserves
from tests.providers.documented_usage import DOCUMENTED, Documented, at_the_limit

BOB = "telegram:2"
ALICE = "telegram:3"
PRICES = tomllib.loads(resources.files("bot").joinpath("prices.toml").read_text())["models"]


def key_for(name: str) -> str:
    return f"sk-{name}-test-key-0123456789abcdef"


@dataclass(frozen=True)
class Case:
    provider: str
    # "v1", "v1-endpoint" (Azure's URL schemes), "full-usage" (Anthropic), "x-groq" (usage in x_groq)
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.variant}" if self.variant else self.provider


CASES = [
    *(Case(spec.name) for spec in CATALOG),
    Case("azure", "v1"),
    Case("azure", "v1-endpoint"),
    Case("anthropic", "full-usage"),
    Case("groq", "x-groq"),
]


def nanos(usd: Decimal) -> int:
    return int((usd * 1_000_000_000).to_integral_value(rounding=ROUND_CEILING))


def expected_nanos(spec: ProviderSpec, model: str, usage: genai_prices.Usage, h: Harness) -> int:
    """The price of `usage`, from genai-prices for the provider's price id, else from bot/prices.toml."""
    if spec.price_provider is not None:
        price = genai_prices.calc_price(
            usage,
            model,
            provider_id=spec.price_provider,
            genai_request_timestamp=h.clock(),
        )
        return nanos(Decimal(price.total_price))
    row = PRICES.get(f"{spec.name}/{model}") or PRICES[f"{spec.name}/*"]
    rate = {k: Decimal(str(v)) for k, v in row.items() if k in ("input", "output", "cached_input")}
    cached_rate = rate.get("cached_input", rate["input"])
    cached = usage.cache_read_tokens or 0
    usd = (
        ((usage.input_tokens or 0) - cached) * rate["input"]
        + cached * cached_rate
        + (usage.output_tokens or 0) * rate["output"]
    ) / 1_000_000
    return nanos(usd)


@dataclass
class Wiring:
    settings: dict[str, Any]
    fake: FakeOpenAI | FakeAnthropic | FakeGemini
    path: str
    query: dict[str, str]
    auth: dict[str, str]  # headers the request must carry
    usage: genai_prices.Usage  # the usage the fake reports, in genai-prices' terms
    text: str  # the streamed answer


def wire(
    case: Case, doc: Documented, openai: FakeOpenAI, anthropic: FakeAnthropic, gemini: FakeGemini
) -> Wiring:
    """Point the provider at its fake and script an answer whose usage is `doc`'s, in the provider's shape."""
    spec = BY_NAME[case.provider]
    model, raw, usage = doc.model, doc.usage, doc.priced
    key = key_for(spec.name)
    settings: dict[str, Any] = {"default_model": f"{spec.name}/{model}", "retry_base_delay": 0}
    if spec.key_env:
        settings[spec.key_env.lower()] = key
    text = f"Hello from the fake {spec.title}."
    root = openai.url.removesuffix("/v1")
    if spec.wire == "anthropic":  # the fake reports these the way the Messages stream does
        full = case.variant == "full-usage"
        anthropic.then(
            llm_anthropic.Script(
                text=text,
                thinking="Let me think about this." if full else None,
                input_tokens=raw["input_tokens"],
                cache_creation_input_tokens=raw.get("cache_creation_input_tokens", 0),
                cache_read_input_tokens=raw.get("cache_read_input_tokens", 0),
                output_tokens=raw["output_tokens"],
                delta_usage="full" if full else "output",
            )
        )
        settings[spec.base_url_env.lower()] = anthropic.url
        auth = {"x-api-key": key, "anthropic-version": API_VERSION}
        return Wiring(settings, anthropic, "/v1/messages", {}, auth, usage, text)
    if spec.wire == "gemini":  # the fake reports these as usageMetadata, cumulative on every chunk
        gemini.then(
            llm_gemini.Script(
                text=text,
                thought="Thinking about a greeting.",
                prompt_tokens=raw["promptTokenCount"],
                cached_tokens=raw.get("cachedContentTokenCount", 0),
                candidates_tokens=raw["candidatesTokenCount"],
                thoughts_tokens=raw.get("thoughtsTokenCount", 0),
            )
        )
        settings[spec.base_url_env.lower()] = gemini.url
        path = f"/v1beta/models/{model}:streamGenerateContent"
        return Wiring(settings, gemini, path, {"alt": "sse"}, {"x-goog-api-key": key}, usage, text)
    openai.then(
        llm_openai.Script(
            text=text, usage_body=raw, usage_in="x_groq" if case.variant == "x-groq" else "chunk"
        )
    )
    if spec.wire == "azure":
        auth = {"api-key": key}
        if case.variant == "v1":
            settings.update(azure_openai_endpoint=root, azure_openai_api_version="v1")
            return Wiring(settings, openai, "/openai/v1/chat/completions", {}, auth, usage, text)
        if case.variant == "v1-endpoint":
            settings.update(azure_openai_endpoint=root + "/openai/v1/")
            return Wiring(settings, openai, "/openai/v1/chat/completions", {}, auth, usage, text)
        settings.update(azure_openai_endpoint=root + "/")
        path = f"/openai/deployments/{model}/chat/completions"
        return Wiring(settings, openai, path, {"api-version": "2024-10-21"}, auth, usage, text)
    if spec.name == "ollama":  # documented without /v1: the catalog appends it
        settings[spec.base_url_env.lower()] = root
        return Wiring(settings, openai, "/v1/chat/completions", {}, {}, usage, text)
    settings[spec.base_url_env.lower()] = openai.url
    return Wiring(
        settings, openai, "/v1/chat/completions", {}, {"authorization": f"Bearer {key}"}, usage, text
    )


def output_limit(spec: ProviderSpec, sent: Recorded) -> int:
    """The output limit field this wire format must use, and only that one."""
    fields = {"max_tokens", "max_completion_tokens", "max_output_tokens"} & set(sent.body)
    if spec.wire == "gemini":
        assert not fields
        return int(sent.body["generationConfig"]["maxOutputTokens"])
    field = "max_completion_tokens" if spec.name in ("openai", "azure", "xai") else "max_tokens"
    assert fields == {field}, fields
    assert field == spec.output_limit_field or spec.wire == "anthropic"
    return int(sent.body[field])


def test_every_provider_has_a_case_and_every_curated_model_a_price() -> None:
    assert {c.provider for c in CASES} == {spec.name for spec in CATALOG}
    for spec in CATALOG:
        assert spec.models, spec.name
        if spec.price_provider is None:  # priced only by bot/prices.toml
            for model in spec.models:
                assert f"{spec.name}/{model}" in PRICES or f"{spec.name}/*" in PRICES, model


def genai_terms(usage: TokenUsage | genai_prices.Usage) -> tuple[int, int, int, int, int]:
    """Input, cache read, cache write, output and reasoning tokens, absent ones as zero."""
    if isinstance(usage, TokenUsage):
        reasoning = usage.reasoning_tokens
    else:
        reasoning = usage.output_reasoning_tokens or 0
    return (
        usage.input_tokens or 0,
        usage.cache_read_tokens or 0,
        usage.cache_write_tokens or 0,
        usage.output_tokens or 0,
        reasoning,
    )


@pytest.mark.parametrize("provider", sorted(name for name, doc in DOCUMENTED.items() if doc.flavor))
def test_each_documented_usage_means_what_genai_prices_reads_in_it(provider: str) -> None:
    """The table's own reading of each payload agrees with genai-prices' extractor for that API, where
    it has one (so the expected charges below rest on two independent readings of the docs). It has none
    for Moonshot's top-level cached_tokens, nor for the providers priced by bot/prices.toml."""
    doc, spec = DOCUMENTED[provider], BY_NAME[provider]
    assert doc.flavor is not None
    response = {"model": doc.model, "modelVersion": doc.model, "usage": doc.usage, "usageMetadata": doc.usage}
    assert spec.price_provider is not None
    extracted = genai_prices.extract_usage(response, provider_id=spec.price_provider, api_flavor=doc.flavor)
    assert genai_terms(extracted.usage) == genai_terms(doc.priced)


@pytest.mark.parametrize(
    "provider", sorted(name for name, doc in DOCUMENTED.items() if BY_NAME[name].wire in ("openai", "azure"))
)
def test_openai_compatible_usage_is_read_by_the_catalog_rows_reading(provider: str) -> None:
    doc, spec = DOCUMENTED[provider], BY_NAME[provider]
    read = usage_from(doc.usage, spec.usage)
    assert genai_terms(read) == genai_terms(doc.priced)
    if spec.usage == "openrouter":
        assert read.reported_cost_usd == Decimal("0.000187")
    else:
        assert read.reported_cost_usd is None


@pytest.mark.parametrize(
    ("raw", "reading", "expected"),
    [
        (  # a cost from anyone but OpenRouter is not what they charge: priced by us
            {"prompt_tokens": 60, "completion_tokens": 5, "cost": 0.5},
            "openai",
            TokenUsage(60, 0, 0, 5),
        ),
        ({"prompt_tokens": 60, "completion_tokens": 5, "cost": -1}, "openrouter", TokenUsage(60, 0, 0, 5)),
        ({"prompt_tokens": 60, "completion_tokens": 5, "cost": "NaN"}, "openrouter", TokenUsage(60, 0, 0, 5)),
        (  # OpenAI's cached field read as DeepSeek's would count nothing: DeepSeek's own field counts
            {"prompt_tokens": 60, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 24}},
            "deepseek",
            TokenUsage(60, 0, 0, 5),
        ),
        (  # Kimi answers that carry OpenAI's field are read too
            {"prompt_tokens": 60, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 24}},
            "moonshot",
            TokenUsage(60, 24, 0, 5),
        ),
        (  # xAI with no reasoning, and servers sending nulls
            {"prompt_tokens": 60, "completion_tokens": 5, "completion_tokens_details": None},
            "xai",
            TokenUsage(60, 0, 0, 5),
        ),
        (  # the same numbers read as OpenAI's (reasoning inside) and as xAI's (reasoning on top)
            {
                "prompt_tokens": 60,
                "completion_tokens": 5,
                "completion_tokens_details": {"reasoning_tokens": 4},
            },
            "openai",
            TokenUsage(60, 0, 0, 5, 4),
        ),
        (
            {
                "prompt_tokens": 60,
                "completion_tokens": 5,
                "completion_tokens_details": {"reasoning_tokens": 4},
            },
            "xai",
            TokenUsage(60, 0, 0, 9, 4),
        ),
    ],
    ids=[
        "cost-ignored",
        "negative-cost",
        "nan-cost",
        "deepseek",
        "moonshot-openai-field",
        "xai-none",
        "openai",
        "xai",
    ],
)
def test_openai_compatible_readings_differ_only_where_documented(
    raw: dict[str, Any], reading: UsageReading, expected: TokenUsage
) -> None:
    assert usage_from(raw, reading) == expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_each_provider_answers_through_the_core_and_charges_its_documented_usage(
    case: Case,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    tmp_path: Path,
) -> None:
    spec = BY_NAME[case.provider]
    doc = DOCUMENTED[case.provider]
    model = doc.model
    w = wire(case, doc, fake_openai, fake_anthropic, fake_gemini)
    async with harness(tmp_path, **w.settings) as h:
        reply = await h.say("/ask say hello", user=BOB)
        assert reply.answers == [w.text + " "], reply.lines
        assert reply.lines == []
        everyone = [*fake_openai.requests, *fake_anthropic.requests, *fake_gemini.requests]
        assert everyone == w.fake.requests and len(everyone) == 1
        sent = w.fake.requests[0]
        assert (sent.path, sent.query) == (w.path, w.query)
        for header, value in w.auth.items():
            assert sent.headers.get(header) == value, header
        other_auth = {"authorization", "x-api-key", "x-goog-api-key", "api-key"} - set(w.auth)
        assert not other_auth & set(sent.headers)
        assert output_limit(spec, sent) == h.settings.max_output_tokens
        if spec.wire == "gemini":
            assert sent.body["contents"][-1] == {"role": "user", "parts": [{"text": "say hello"}]}
            assert sent.body["systemInstruction"] == {"parts": [{"text": h.settings.system_prompt}]}
        else:
            assert sent.body["model"] == model and sent.body["stream"] is True
            assert sent.body["messages"][-1] == {"role": "user", "content": "say hello"}
        if spec.wire == "anthropic":
            assert sent.body["system"] == h.settings.system_prompt
            assert [m["role"] for m in sent.body["messages"]] == ["user"]
        if spec.wire in ("openai", "azure"):
            assert ("stream_options" in sent.body) == spec.stream_usage_option
            for field_name, extra in spec.extra_body:
                assert sent.body[field_name] == extra
        row = await h.db.fetchone("SELECT * FROM charges WHERE user_id = ?", BOB)
        assert row is not None
        assert (row["model"], row["estimated"]) == (f"{spec.name}/{model}", 0)
        recorded = (
            row["input_tokens"],
            row["cache_read_tokens"],
            row["cache_write_tokens"],
            row["output_tokens"],
            row["reasoning_tokens"],
        )
        assert recorded == genai_terms(w.usage)
        # OpenRouter: its own reported figure, as is
        expected = 187_000 if spec.usage == "openrouter" else expected_nanos(spec, model, w.usage, h)
        assert int(row["cost"]) == expected
        assert (await h.ledger.summary(BOB)).spent == expected
        if spec.name != "ollama" and spec.name != "qianfan":
            assert expected > 0
        await check_invariants(h.ledger)


@pytest.mark.parametrize(
    "case", [c for c in CASES if BY_NAME[c.provider].usage != "openrouter"], ids=lambda c: c.id
)
async def test_the_most_reasoning_the_output_limit_allows_settles_within_the_hold(
    case: Case,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every output token the limit sent allows, all but one of them reasoning, reported the provider's
    way (xAI's reasoning on top of completion_tokens, Gemini's thoughts apart from candidates), is
    charged in full and still fits the hold. (OpenRouter charges its reported cost: not ours to bound.)"""
    spec = BY_NAME[case.provider]
    limit = 1024
    doc = at_the_limit(case.provider, limit)
    w = wire(case, doc, fake_openai, fake_anthropic, fake_gemini)
    async with harness(tmp_path, **w.settings, max_output_tokens=limit) as h:
        reserved = spy_reserves(h, monkeypatch)
        assert (await h.say("/ask think hard", user=BOB)).answers
        assert output_limit(spec, w.fake.requests[0]) == limit
        row = await h.db.fetchone("SELECT * FROM charges WHERE user_id = ?", BOB)
        assert row is not None and row["estimated"] == 0
        assert (row["output_tokens"], row["reasoning_tokens"]) == (
            limit,
            doc.priced.output_reasoning_tokens or 0,
        )
        assert int(row["cost"]) == expected_nanos(spec, doc.model, doc.priced, h)
        assert len(reserved) == 1 and int(row["cost"]) <= reserved[0].hold.amount
        await check_invariants(h.ledger)


async def test_model_lists_configured_providers_grouped_with_prices_and_remembers_choices(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        "openai_api_key": key_for("openai"),
        "openai_base_url": fake_openai.url,
        "anthropic_api_key": key_for("anthropic"),
        "anthropic_base_url": fake_anthropic.url,
        "ollama_base_url": fake_openai.url.removesuffix("/v1"),
        "default_model": "openai/gpt-4o-mini",
        "retry_base_delay": 0,
    }
    async with harness(tmp_path, **settings) as h:
        reply = await h.say("/model", user=BOB)
        assert len(reply.menus) == 1 and reply.lines == []
        menu = reply.menus[0]
        assert menu.title.startswith("Current model: openai/gpt-4o-mini.")
        titles = [group.title for group in menu.groups]
        assert titles == ["OpenAI", "Anthropic", "Local (Ollama, llama.cpp, vLLM)"]
        for group, name in zip(menu.groups, ("openai", "anthropic", "ollama"), strict=True):
            assert [item.command for item in group.items] == [
                f"/model {name}/{m}" for m in BY_NAME[name].models
            ]
        labels = {item.command.removeprefix("/model "): item.label for g in menu.groups for item in g.items}
        assert labels["openai/gpt-4o-mini"] == "openai/gpt-4o-mini — $0.15/$0.6 per 1M in/out ✓"
        assert labels["anthropic/claude-haiku-4-5"] == "anthropic/claude-haiku-4-5 — $1/$5 per 1M in/out"
        assert labels["ollama/llama3.2"] == "ollama/llama3.2 — free"
        assert "Google Gemini" not in menu.as_text() and "gemini" not in menu.as_text()

        before = await snapshot(h.db)
        for choice, line in [
            ("nowhere/model-x", "Can't use nowhere/model-x: there is no provider called 'nowhere'"),
            ("google/gemini-2.0-flash", "Can't use google/gemini-2.0-flash: Google Gemini is not set up"),
            ("anthropic/claude-imaginary-9", "Can't use anthropic/claude-imaginary-9: it has no known price"),
            ("openai", "Can't use openai: model ids look like provider/model"),
        ]:
            refused = await h.say(f"/model {choice}", user=BOB)
            assert len(refused.lines) == 1 and refused.lines[0].startswith(line), refused.lines
            assert await snapshot(h.db) == before

        chosen = await h.say("/model anthropic/claude-haiku-4-5", user=BOB)
        assert chosen.lines == ["Model set to anthropic/claude-haiku-4-5 ($1/$5 per 1M in/out)."]
        assert (await h.say("/ask hi", user=BOB)).answers
        assert (await h.say("/ask hi", user=ALICE)).answers
        assert [r.body["model"] for r in fake_anthropic.requests] == ["claude-haiku-4-5"]
        assert [r.body["model"] for r in fake_openai.requests] == ["gpt-4o-mini"]
        menu = (await h.say("/model", user=BOB)).menus[0]
        marked = [item.label for g in menu.groups for item in g.items if item.label.endswith("✓")]
        assert marked == ["anthropic/claude-haiku-4-5 — $1/$5 per 1M in/out ✓"]
        await check_invariants(h.ledger)
    async with harness(tmp_path, **settings) as restarted:  # remembered across restarts
        assert (await restarted.say("/ask again", user=BOB)).answers
        assert [r.body["model"] for r in fake_anthropic.requests] == ["claude-haiku-4-5"] * 2
        assert fake_gemini.requests == []


def test_the_catalog_file_is_checked_when_it_loads() -> None:
    """A typo in catalog.toml must stop start-up, not quietly leave a provider unpriced or misrouted."""
    good = (
        '[acme]\ntitle = "Acme"\nwire = "openai"\n'
        'base_url = "https://acme.test/v1"\nbase_url_env = "ACME_BASE_URL"\n'
    )
    (acme,) = load_catalog(good + 'key_env = "ACME_API_KEY"\nmodels = ["a-1"]\nextra_body = { x = 1 }\n')
    assert (acme.name, acme.key_env, acme.price_provider, acme.models) == (
        "acme",
        "ACME_API_KEY",
        None,
        ("a-1",),
    )
    assert acme.extra_body == (("x", 1),)
    with pytest.raises(CatalogError, match=r"\[acme\]: unknown setting 'price_provier'"):
        load_catalog(good + 'price_provier = "acme"\n')
    with pytest.raises(CatalogError, match=r"\[acme\]: wire must be one of openai, anthropic, gemini, azure"):
        load_catalog(good.replace('"openai"', '"grpc"'))
    assert acme.usage == "openai"  # each wire format's own reading unless the row names another
    (xai_like,) = load_catalog(good + 'usage = "xai"\n')
    assert xai_like.usage == "xai"
    (claude_like,) = load_catalog(good.replace('"openai"', '"anthropic"'))
    assert claude_like.usage == "anthropic"
    with pytest.raises(CatalogError, match=r"\[acme\]: usage must be one of openai, deepseek, moonshot, xai"):
        load_catalog(good + 'usage = "grok"\n')
    with pytest.raises(CatalogError, match=r"\[acme\]: usage must be one of anthropic for wire 'anthropic'"):
        load_catalog(good.replace('"openai"', '"anthropic"') + 'usage = "openai"\n')
