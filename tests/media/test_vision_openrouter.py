"""OpenRouter's models that see: known by their `vendor/model` name (openrouter/openai/gpt-4o-mini bills by
OpenAI's formula) and, once OpenRouter's model list has loaded, by its `architecture.input_modalities`: a
model it lists without "image" refuses a photo whatever its name, and one that takes images but is of no
family vision.toml knows is held at the conservative bound (or at OpenRouter's listed price of an input
image, when that is more). The charge is the cost OpenRouter reports."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.media.vision import family_for, seeing
from bot.money import usd_to_nanos
from bot.providers.openrouter_models import OpenRouterList, parse_model
from tests.doubles import RecordingReply
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_openai import Script, listed_model
from tests.harness import harness, spy_reserves
from tests.media.photos import photo, with_photos
from tests.providers.wiring import env, settled

KEY = "sk-or-v1-OpenRouterTestKey0123456789abcdef"
SEES = ("text", "image")
MINI = listed_model("openai/gpt-4o-mini", "0.00000015", "0.0000006", input_modalities=SEES, image="0.007225")
# a model of a family vision.toml doesn't know, that OpenRouter says takes images ($0.40 per 1M input)
SEER = listed_model("acme/seer-1", "0.0000004", "0.0000016", input_modalities=SEES)
# the same, with a listed price of an input image above the bound: $0.01, 25,000 prompt tokens' worth
DEAR = listed_model("acme/seer-2", "0.0000004", "0.0000016", input_modalities=SEES, image="0.01")
BLIND = listed_model("acme/blind-1", "0.0000004", "0.0000016")
# a name vision.toml knows (Claude sees), listed as text only: the list decides
TEXT_CLAUDE = listed_model("anthropic/claude-haiku-4.5", "0.000001", "0.000005")
LISTED = OpenRouterList([m for m in map(parse_model, (MINI, SEER, DEAR, BLIND, TEXT_CLAUDE)) if m])


def test_without_the_list_openrouter_models_are_known_by_name_only() -> None:
    mini, claude = (
        family_for("openrouter/openai/gpt-4o-mini"),
        family_for("openrouter/anthropic/claude-haiku-4.5"),
    )
    assert mini is not None and mini.formula == "tiles" and mini.base == 2833  # OpenAI's own row
    assert claude is not None and claude.formula == "pixels"
    assert family_for("openrouter/acme/seer-1") is None  # no name to know it by
    assert family_for("openrouter/acme/seer-1", OpenRouterList()) is None  # a list that never loaded


def test_the_list_decides_which_openrouter_models_see() -> None:
    assert family_for("openrouter/openai/gpt-4o-mini", LISTED) == family_for("openai/gpt-4o-mini")
    assert family_for("openrouter/anthropic/claude-haiku-4.5", LISTED) is None  # listed as text only
    assert family_for("openrouter/acme/blind-1", LISTED) is None
    seer = family_for("openrouter/acme/seer-1", LISTED)
    assert seer is not None and seer.formula == "flat" and seer.tokens == 8192 and seer.long_edge == 1024
    assert seer.formats == {"image/jpeg", "image/png"}
    dear = family_for("openrouter/acme/seer-2", LISTED)
    assert dear is not None and dear.tokens == 25_000  # $0.01 / $0.0000004 a token
    # the list speaks for OpenRouter's models only
    assert family_for("anthropic/claude-haiku-4-5", LISTED) is not None
    models = ["openrouter/acme/blind-1", "openrouter/acme/seer-1", "openrouter/openai/gpt-4o-mini"]
    assert seeing(models, LISTED) == models[1:]


def test_an_entry_that_says_nothing_of_modalities_is_known_by_name() -> None:
    quiet: dict[str, Any] = {**listed_model("openai/gpt-4o", "0.0000025", "0.00001"), "architecture": {}}
    unsaid = parse_model(quiet)
    assert unsaid is not None and unsaid.input_modalities == ()
    assert family_for("openrouter/openai/gpt-4o", OpenRouterList([unsaid])) == family_for("openai/gpt-4o")
    older: dict[str, Any] = {**quiet, "id": "acme/old-seer", "architecture": {"modality": "text+image->text"}}
    parsed = parse_model(older)
    assert parsed is not None and parsed.input_modalities == ("text", "image")


def openrouter_env(fakes: Fakes, model: str) -> dict[str, Any]:
    openai = fakes[0]
    openai.model_list = [MINI, SEER, DEAR, BLIND, TEXT_CLAUDE]
    return env(fakes, model, openrouter_api_key=KEY, openrouter_base_url=openai.url)


async def test_openai_on_openrouter_bills_by_openais_formula_and_is_charged_openrouters_cost(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = fakes[0]
    openai.then(Script(cost="0.00383"))  # 25,513 prompt tokens at $0.15 per 1M, and the answer
    async with harness(tmp_path, **openrouter_env(fakes, "openrouter/openai/gpt-4o-mini")) as h:
        granted = spy_reserves(h, monkeypatch)
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(1024, 1024)), reply)
        assert reply.answers and not reply.lines
        body = openai.requests[-1].body
        assert body["model"] == "openai/gpt-4o-mini"
        url = body["messages"][-1]["content"][1]["image_url"]
        assert set(url) == {"url", "detail"} and url["detail"] == "high"  # OpenRouter takes OpenAI's detail
        (billed,) = openai.billed_images
        assert billed.tokens == 2833 + 5667 * 4  # OpenAI's guide: 768x768, four tiles
        (charge,) = await settled(h)
        (reserved,) = granted
    assert (
        charge["cost"] == usd_to_nanos(Decimal("0.00383")) <= reserved.hold.amount
    )  # what OpenRouter reported
    assert reserved.quote.input_nanos >= usd_to_nanos(billed.tokens * Decimal("0.00000015"))


async def test_a_model_of_no_known_family_that_takes_images_is_held_at_the_bound(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai = fakes[0]
    openai.then(Script(cost="0.0001"))
    async with harness(tmp_path, **openrouter_env(fakes, "openrouter/acme/seer-1")) as h:
        granted = spy_reserves(h, monkeypatch)
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(2000, 1500, "WEBP")), reply)
        assert reply.answers and not reply.lines
        (billed,) = openai.billed_images
        assert billed.mime == "image/jpeg" and (billed.width, billed.height) == (1024, 768)
        (charge,) = await settled(h)
        (reserved,) = granted
    image_nanos = 8192 * 400  # $0.0000004 a token is 400 nano-dollars
    assert (
        image_nanos <= reserved.quote.input_nanos < image_nanos + 1000 * 400
    )  # the image, and a little text
    assert charge["cost"] == usd_to_nanos(Decimal("0.0001"))


@pytest.mark.parametrize("model", ["openrouter/acme/blind-1", "openrouter/anthropic/claude-haiku-4.5"])
async def test_a_model_the_list_says_takes_no_images_refuses_one(
    tmp_path: Path, fakes: Fakes, model: str
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **openrouter_env(fakes, model)) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(300, 300)), reply)
        assert len(reply.lines) == 1 and not reply.answers
        assert f"{model} can't see images" in reply.last
        assert openai.billed_images == [] and await settled(h) == []
