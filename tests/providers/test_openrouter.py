"""OpenRouter priced by OpenRouter: its `GET /models` list read at start and kept fresh, used for /model
(menu and autocomplete), for the worst-case hold and, when the stream reports no `usage.cost`, for the
charge; genai-prices' OpenRouter rows when the list can't be fetched. All against the fake server."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.ledger import Hold, Quote
from bot.pricing import Pricer, UnpricedModel
from bot.providers import openrouter_models
from bot.providers.base import TokenUsage
from bot.providers.openrouter_models import (
    ListedModel,
    ListSource,
    ModelListError,
    OpenRouterList,
    parse_model,
    parse_models,
)
from tests.doubles import eventually
from tests.fakes.llm_openai import FakeOpenAI, Script, listed_model
from tests.harness import Harness, harness
from tests.providers.wiring import settled

BOB = "telegram:2"
KEY = "sk-or-v1-OpenRouterTestKey0123456789abcdef"
NEW = "acme/brand-new-model"  # a model no bundled price table knows
# $0.40/$1.60 per 1M, a $0.0001 fee per request, reasoning dearer at $2 per 1M, cache reads at $0.10
NEW_MODEL = listed_model(
    NEW,
    "0.0000004",
    "0.0000016",
    request="0.0001",
    internal_reasoning="0.000002",
    input_cache_read="0.0000001",
    context_length=32_000,
    max_completion_tokens=300,
)
MINI = listed_model("openai/gpt-4o-mini", "0.00000015", "0.0000006")
ROUTER = listed_model("openrouter/auto", "-1", "-1")  # OpenRouter's router: no price of its own
NO_COMPLETION = {**listed_model("broken/no-completion", "0.000001", "0"), "pricing": {"prompt": "0.000001"}}


def openrouter(fake: FakeOpenAI, **more: Any) -> dict[str, Any]:
    return {
        "openrouter_api_key": KEY,
        "openrouter_base_url": fake.url,
        "default_model": f"openrouter/{NEW}",
        "retry_base_delay": 0,
        **more,
    }


def quotes(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[Quote]:
    """Every quote the ledger is asked to hold from now on."""
    asked: list[Quote] = []
    reserve = h.ledger.reserve

    async def spy(user: str, quote: Quote) -> Hold:
        asked.append(quote)
        return await reserve(user, quote)

    monkeypatch.setattr(h.ledger, "reserve", spy)
    return asked


def labels(reply_menu: Any) -> dict[str, str]:
    return {i.command.removeprefix("/model "): i.label for g in reply_menu.groups for i in g.items}


def test_no_bundled_table_knows_the_test_model() -> None:
    with pytest.raises(UnpricedModel):
        Pricer.from_file(None).rates(f"openrouter/{NEW}", "openrouter")


def test_the_list_is_read_as_decimal_dollars_per_token_and_unknown_prices_stay_unknown() -> None:
    model = parse_model(NEW_MODEL)
    assert model == ListedModel(
        id=NEW,
        prompt=Decimal("0.0000004"),
        completion=Decimal("0.0000016"),
        request=Decimal("0.0001"),
        image=Decimal(0),
        internal_reasoning=Decimal("0.000002"),
        input_cache_read=Decimal("0.0000001"),
        context_length=32_000,
        max_completion_tokens=300,
        input_modalities=("text",),
    )
    assert parse_model(ROUTER) is None and parse_model(NO_COMPLETION) is None
    pricing = {"prompt": "0.000001", "completion": "0.000002"}
    bare = parse_model({"id": "x/bare", "pricing": pricing})  # no fee, no limits: nothing invented
    assert bare == ListedModel("x/bare", Decimal("0.000001"), Decimal("0.000002"))
    unknown = {"internal_reasoning": "-1", "input_cache_read": "cheap", "image": 0.5}
    odd = parse_model({"id": "x/odd", "pricing": {**pricing, **unknown}, "context_length": True})
    assert odd == ListedModel("x/odd", Decimal("0.000001"), Decimal("0.000002"))  # a float is no price
    for bad in ({"request": "-1"}, {"prompt": "-0.000001"}, {"completion": "NaN"}, {"prompt": 1e-6}):
        assert parse_model({"id": "x/bad", "pricing": {**pricing, **bad}}) is None, bad
    for entry in ("x", {"pricing": pricing}, {"id": " ", "pricing": pricing}, {"id": "x/y"}):
        assert parse_model(entry) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "not JSON"),
        (b'{"models": []}', "no 'data' list"),
        (json.dumps({"data": [ROUTER]}).encode(), "none of its 1 entries had a usable price"),
    ],
)
def test_an_answer_that_is_no_usable_list_is_a_failed_fetch(body: bytes, reason: str) -> None:
    with pytest.raises(ModelListError, match=reason):
        parse_models(body)


def test_the_lists_prices_make_the_quote_and_the_charge_exactly() -> None:
    pricer = Pricer.from_file(None)
    listed = OpenRouterList([parse_model(NEW_MODEL), parse_model(MINI)])  # type: ignore[list-item]
    pricer.openrouter = listed
    at = datetime(2026, 11, 30, 12, tzinfo=UTC)
    quote = pricer.quote(
        f"openrouter/{NEW}",
        "openrouter",
        at=at,
        input_tokens=1000,
        max_output_tokens=300,
        min_output_tokens=16,
    )
    # 1000 × $0.0000004 + the $0.0001 fee = $0.0005; each output token at the dearer reasoning rate
    assert quote == Quote(500_000, Decimal("2000.000000"), 300, 16)
    usage = TokenUsage(input_tokens=60, cache_read_tokens=24, output_tokens=200, reasoning_tokens=50)
    # 36 × 0.4 + 24 × 0.1 + 150 × 1.6 + 50 × 2 (per 1M) + $0.0001 = $0.0004568
    assert pricer.cost(f"openrouter/{NEW}", "openrouter", usage, at=at) == 456_800
    # a cost OpenRouter reports is charged as it is
    reported = TokenUsage(input_tokens=60, output_tokens=200, reported_cost_usd=Decimal("0.00042"))
    assert pricer.cost(f"openrouter/{NEW}", "openrouter", reported, at=at) == 420_000
    rates = pricer.rates(f"openrouter/{NEW}", "openrouter")
    assert (rates.input, rates.output, rates.cached_input) == (Decimal("0.4"), Decimal("1.6"), Decimal("0.1"))
    assert (rates.context_window, rates.max_output, rates.source.kind) == (32_000, 300, "openrouter")
    assert (rates.reasoning, rates.per_request) == (Decimal(2), Decimal("0.0001"))
    # once the list is loaded, a model it lacks is not OpenRouter's to serve, whatever genai-prices says
    with pytest.raises(UnpricedModel):
        pricer.rates("openrouter/anthropic/claude-3.5-haiku", "openrouter")
    # ... and other providers are not its business
    assert pricer.rates("openai/gpt-4o-mini", "openai").source.kind == "genai-prices"
    cache_write = parse_model(listed_model("x/w", "0.000003", "0.000015", input_cache_write="0.00000375"))
    assert cache_write is not None and cache_write.dearest_input == Decimal("0.00000375")


async def test_openrouter_serves_and_charges_a_model_only_its_list_prices(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.model_list = [ROUTER, NEW_MODEL, NO_COMPLETION, MINI]
    fake_openai.then(
        Script(text="Hi there.", prompt_tokens=60, completion_tokens=200, reasoning_tokens=50, cost="0.00042")
    )
    caplog.set_level(logging.INFO)
    async with harness(tmp_path, **openrouter(fake_openai)) as h:
        assert [r.get("authorization") for r in fake_openai.list_requests] == [f"Bearer {KEY}"]
        menu = (await h.say("/model", user=BOB)).menus[0]
        assert [g.title for g in menu.groups] == ["OpenRouter"]
        # the curated model it lists first, then the rest in its order; unpriced and unlisted ones left out
        assert labels(menu) == {
            "openrouter/openai/gpt-4o-mini": "openrouter/openai/gpt-4o-mini — $0.15/$0.6 per 1M in/out",
            f"openrouter/{NEW}": f"openrouter/{NEW} — $0.4/$1.6 per 1M in/out + $0.0001 per request ✓",
        }
        assert next(iter(labels(menu))) == "openrouter/openai/gpt-4o-mini"
        assert [c.model_id for c in h.core.model_choices("brand")] == [f"openrouter/{NEW}"]

        asked = quotes(h, monkeypatch)
        reply = await h.say("/ask say hi", user=BOB)
        assert reply.answers == ["Hi there. "] and reply.lines == []
        sent = fake_openai.requests[-1]
        assert sent.body["model"] == NEW
        assert sent.output_limit == 300  # the listed max_completion_tokens, under MAX_OUTPUT_TOKENS
        [quote] = asked
        assert quote.max_output_tokens == 300
        assert quote.output_nanos_per_token == Decimal("2000.000000")  # reasoning's $2/1M, dearer
        tokens_part = quote.input_nanos - 100_000  # the $0.0001 request fee is in the fixed part
        assert tokens_part % 400 == 0 and tokens_part // 400 >= 60  # the input bound at $0.40/1M
        [charge] = await settled(h)
        assert (charge["model"], charge["cost"], charge["estimated"]) == (f"openrouter/{NEW}", 420_000, 0)
        assert (charge["output_tokens"], charge["reasoning_tokens"]) == (200, 50)
    assert "OpenRouter lists 2 models with prices" in caplog.text
    assert KEY not in caplog.text


async def test_without_a_reported_cost_the_lists_prices_are_charged(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.model_list = [NEW_MODEL]
    fake_openai.then(
        Script(prompt_tokens=60, cached_tokens=24, completion_tokens=200, reasoning_tokens=50, cost=None)
    )
    async with harness(tmp_path, **openrouter(fake_openai)) as h:
        await h.say("/ask hello", user=BOB)
        [charge] = await settled(h)
        assert (charge["cost"], charge["estimated"]) == (456_800, 0)  # as in the quote test above


@pytest.mark.parametrize("status", [404, 500])
async def test_when_the_list_cant_be_fetched_genai_prices_rows_price_openrouter(
    fake_openai: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    if status != 404:  # 404: the fake has no list at all
        fake_openai.model_list, fake_openai.model_list_status = [NEW_MODEL], status
    fake_openai.then(Script(prompt_tokens=60, completion_tokens=20, cost="0.0000123"))
    async with harness(
        tmp_path, **openrouter(fake_openai, default_model="openrouter/openai/gpt-4o-mini")
    ) as h:
        failed = [r.getMessage() for r in caplog.records if "model list" in r.getMessage()]
        assert failed == [
            f"OpenRouter's model list could not be fetched (HTTP {status}); "
            "pricing OpenRouter models by genai-prices' bundled rows until it can be"
        ]
        menu = (await h.say("/model", user=BOB)).menus[0]
        assert labels(menu)["openrouter/openai/gpt-4o-mini"].endswith("$0.15/$0.6 per 1M in/out ✓")
        assert f"openrouter/{NEW}" not in labels(menu)
        refused = await h.say(f"/model openrouter/{NEW}", user=BOB)
        assert "no known price" in refused.last
        await h.say("/ask hello", user=BOB)
        [charge] = await settled(h)
        assert charge["cost"] == 12_300  # the reported cost still wins
    assert KEY not in caplog.text and KEY[:12] not in caplog.text


async def test_start_up_waits_only_briefly_for_the_list(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(openrouter_models, "START_TIMEOUT", 0.2)
    fake_openai.model_list, fake_openai.model_list_delay = [NEW_MODEL], 30
    async with harness(tmp_path, **openrouter(fake_openai)) as h:
        assert "could not be fetched (no answer within 0.2 s)" in caplog.text
        listed = h.core.services.pricer.openrouter
        assert listed is not None and not listed.loaded


async def test_the_list_is_refreshed_in_the_background_until_the_core_closes(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No list at start (genai-prices then), the retry loads it, a later refresh takes new prices."""
    monkeypatch.setattr(openrouter_models, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(openrouter_models, "REFRESH_SECONDS", 0.01)
    async with harness(tmp_path, **openrouter(fake_openai)) as h:
        pricer = h.core.services.pricer
        assert "no known price" in (await h.say(f"/model openrouter/{NEW}", user=BOB)).last
        fake_openai.model_list = [NEW_MODEL]
        await eventually(lambda: pricer.openrouter is not None and pricer.openrouter.loaded)
        chosen = await h.say(f"/model openrouter/{NEW}", user=BOB)
        assert chosen.last.startswith(f"Model set to openrouter/{NEW}")
        fake_openai.model_list = [listed_model(NEW, "0.000001", "0.000002")]
        await eventually(lambda: pricer.rates(f"openrouter/{NEW}", "openrouter").input == 1)
        assert "openrouter-models" in {t.get_name() for t in asyncio.all_tasks()}
    assert "openrouter-models" not in {t.get_name() for t in asyncio.all_tasks()}  # stopped with the core


async def test_a_failed_refresh_keeps_the_last_good_list(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.model_list = [NEW_MODEL]
    async with aiohttp.ClientSession() as session:
        source = ListSource(session, fake_openai.url, KEY)
        assert KEY not in repr(source)
        listed = OpenRouterList()
        assert await listed.refresh(source, 5)
        fake_openai.model_list_status = 503
        assert not await listed.refresh(source, 5)
        assert listed.get(NEW.upper()) == parse_model(NEW_MODEL)
        fake_openai.model_list_status, fake_openai.model_list = 200, [{"data": "not a model"}]
        assert not await listed.refresh(source, 5)
        assert [m.id for m in listed.models()] == [NEW]
    lines = [r.getMessage() for r in caplog.records if "could not be fetched" in r.getMessage()]
    assert len(lines) == 2 and all("keeping the list fetched at" in line for line in lines)
    assert "(HTTP 503)" in lines[0] and "(none of its 1 entries had a usable price)" in lines[1]
    assert KEY not in caplog.text


async def test_without_a_key_nothing_is_fetched(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.model_list = [NEW_MODEL]
    settings = {"openai_api_key": "sk-test-0123456789", "openai_base_url": fake_openai.url}
    async with harness(tmp_path, openrouter_base_url=fake_openai.url, **settings) as h:
        assert h.core.services.pricer.openrouter is None
    assert fake_openai.list_requests == []


async def test_the_menu_shows_a_few_per_provider_and_autocomplete_finds_any(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    many = [listed_model(f"acme/model-{n:02}", "0.000001", "0.000002") for n in range(30)]
    fake_openai.model_list = [MINI, *many]
    async with harness(
        tmp_path, **openrouter(fake_openai, default_model="openrouter/openai/gpt-4o-mini")
    ) as h:
        [group] = (await h.say("/model", user=BOB)).menus[0].groups
        assert group.title == "OpenRouter (20 of 31; send /model id for others)"
        assert len(group.items) == 20 and group.items[0].command == "/model openrouter/openai/gpt-4o-mini"
        assert [c.model_id for c in h.core.model_choices("MODEL-2")] == [
            f"openrouter/acme/model-{n}" for n in range(20, 30)
        ]
        [last] = h.core.model_choices("model-29")  # past the menu's first 20, still offered
        assert last.label == "openrouter/acme/model-29 — $1/$2 per 1M in/out"
        assert len(h.core.model_choices("")) == 25
