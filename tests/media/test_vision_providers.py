"""More models that see: Mistral (Pixtral; Small, Medium and Large 3), xAI's Grok, Qwen-VL, Zhipu's
GLM-4.xV and Moonshot's Kimi. Each family's count against its provider's published rule, worked out here by
hand from the source cited; the hold never below what the fake bills (the fakes bill by each maker's rule,
written out apart from the bot in tests/fakes/image_billing.py); each API's `image_url` as the fake received
it; the charge what the fake billed; and a blind model of the same provider still refusing."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.media.image_tokens import sizings
from bot.media.images import check_image
from bot.media.vision import families, family_for
from bot.money import usd_to_nanos
from bot.providers.catalog import BY_NAME
from tests.doubles import RecordingReply
from tests.fakes.image_billing import maker_rule
from tests.fakes.llm_fixtures import Fakes
from tests.harness import harness, spy_reserves
from tests.media.billing import genai_cost
from tests.media.photos import photo, with_photos
from tests.providers.wiring import env, settled


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        # Mistral's vision FAQ (docs.mistral.ai/capabilities/vision): "a 720x512 image will consume
        # approximately (720/16) * (512/16) ≈ 1440 tokens": 45 x 32 patches, and the tokenizer closes each
        # of the 32 rows with an [IMG_BREAK] (the last an [IMG_END])
        ("mistral/pixtral-12b-latest", (720, 512), 32 * (45 + 1)),
        # the FAQ again: "a 1436x962 image will be downscaled to approximately 1024x686": 64 x 43 patches
        ("mistral/pixtral-large-latest", (1436, 962), 43 * (64 + 1)),
        ("mistral/mistral-small-latest", (16, 16), 1 * (1 + 1)),
        # xAI (docs.x.ai, consumption and rate limits): 448x448 tiles of 256 tokens, plus one extra tile
        ("xai/grok-4-0709", (448, 448), (1 + 1) * 256),
        ("xai/grok-4-fast-non-reasoning", (800, 600), (2 * 2 + 1) * 256),
        ("xai/grok-2-vision-1212", (4000, 3000), (6 + 1) * 256),  # fitted to 6 tiles: the documented 1,792
        # Model Studio (alibabacloud.com/help/en/model-studio/vision): sides to multiples of 28 px, a token
        # per 28x28, plus <vision_bos> and <vision_eos>; 32 px on Qwen3-VL
        ("dashscope/qwen-vl-max", (224, 448), 8 * 16 + 2),
        ("dashscope/qwen3-vl-plus", (224, 448), 7 * 14 + 2),
        # 1024x1024 rounds to 1036x1036, 1,369 tokens, over the default 1,280: scaled to 980x980 (35 x 35)
        ("dashscope/qwen-vl-plus", (1024, 1024), 35 * 35 + 2),
        ("dashscope/qwen-vl-max", (10, 10), 3 * 3 + 2),  # scaled up to 4 tokens' worth: counted generously
        # GLM-4.xV (no published formula): every 14-px patch before the 2x2 merge, 74 x 55, plus 2
        ("zhipu/glm-4.6v", (1024, 768), 74 * 55 + 2),
        # Kimi (no published formula): 14-px patches; Baseten publishes 5,329 (73 x 73) for 1024x1024 on K2.5
        ("moonshot/kimi-k2.5", (1024, 1024), 74 * 74 + 2),
    ],
)
def test_each_family_counts_by_its_published_rule(model: str, size: tuple[int, int], tokens: int) -> None:
    family = family_for(model)
    assert family is not None
    assert family.count(*family.fit(*size)) == tokens


def test_the_image_sent_is_never_larger_than_what_the_provider_looks_at() -> None:
    pixtral, grok, qwen = (
        family_for(m) for m in ("mistral/pixtral-12b", "xai/grok-4", "dashscope/qwen-vl-max")
    )
    assert pixtral is not None and grok is not None and qwen is not None
    assert pixtral.fit(4000, 3000) == (1024, 768)
    width, height = grok.fit(4000, 3000)
    assert -(-width // 448) * -(-height // 448) <= 6 and width > 896  # three tiles across, not two
    width, height = qwen.fit(5000, 1000)
    assert -(-width // 28) * -(-height // 28) <= 1280


# Sizes people send: phone photos either way up, screenshots, panoramas, thumbnails, slivers.
SIZES = [(4032, 3024), (3024, 4032), (1920, 1080), (1170, 2532), (6000, 1000), (800, 600), (300, 300)]
SIZES += [(64, 64), (10, 10), (1, 500), (2048, 2048), (1025, 1023), (449, 447), (57, 3000)]
BOUNDED = [
    "mistral/pixtral-12b-latest",
    "mistral/mistral-small-latest",
    "mistral/mistral-medium-latest",
    "xai/grok-4-0709",
    "dashscope/qwen-vl-max",
    "dashscope/qwen3-vl-plus",
    "zhipu/glm-4.6v",
    "moonshot/kimi-k2.5",
]


@pytest.mark.parametrize("model", BOUNDED)
def test_the_hold_is_never_below_what_the_maker_bills(model: str) -> None:
    """Every way of sending each size, counted by vision.toml, against the maker's own rule for the image
    as sent: equal where the rule is published and exact (Pixtral, Grok), above it elsewhere."""
    family, rule = family_for(model), maker_rule(model.split("/", 1)[1])
    assert family is not None and rule is not None
    for width, height in SIZES:
        for way in sizings(family, width, height):
            assert way.tokens >= rule(way.width, way.height), (model, width, height, way)
            if model.startswith(("mistral/pixtral", "xai/")):
                assert way.tokens == rule(way.width, way.height)
        ways = sizings(family, width, height)
        assert all(later.tokens < earlier.tokens for earlier, later in itertools.pairwise(ways))


def test_apis_that_take_only_jpeg_and_png_get_a_webp_as_jpeg() -> None:
    webp = check_image(photo(800, 600, "WEBP"))
    grok, pixtral = family_for("xai/grok-4"), family_for("mistral/pixtral-12b")
    assert grok is not None and pixtral is not None
    assert webp.part(webp.ways(grok)[0]).mime == "image/jpeg"
    as_it_came = webp.part(webp.ways(pixtral)[0])  # Mistral takes WebP: sent untouched
    assert as_it_came.mime == "image/webp" and as_it_came.data == webp.data


def test_only_apis_that_document_detail_are_sent_it_and_low_detail_needs_it() -> None:
    """OpenAI's cheap look (`detail: low`) is priced as the base alone: a provider that weren't sent the
    field would bill it at full size, so every tile family's provider sends it."""
    sending = {name for name, spec in BY_NAME.items() if spec.image_detail}
    assert sending == {"openai", "azure", "openrouter", "xai"}
    for patterns, family in families():
        if family.has_low_detail:
            assert {p.split("/", 1)[0] for p in patterns} <= sending, patterns


KEY = "sk-test-0123456789abcdefghijklmnop"
# provider, a model that sees, one that doesn't; the settings point the provider at the fake
CASES = [
    ("mistral", "mistral/pixtral-12b-latest", "mistral/codestral-latest"),
    ("mistral", "mistral/mistral-small-latest", "mistral/codestral-latest"),
    ("xai", "xai/grok-4-fast-non-reasoning", "xai/grok-3-mini"),
    ("dashscope", "dashscope/qwen-vl-max", "dashscope/qwen-plus"),
    ("zhipu", "zhipu/glm-4.6v", "zhipu/glm-4.5-air"),
    ("moonshot", "moonshot/kimi-k2.5", "moonshot/kimi-k2-turbo-preview"),
]
# What bot/prices.toml charges for the providers genai-prices lacks these models of (USD per 1M: in, out).
PRICE_ROWS = {"dashscope/qwen-vl-max": ("0.8", "3.2"), "zhipu/glm-4.6v": ("0.3", "0.9")}


def provider_env(fakes: Fakes, provider: str, model: str) -> dict[str, Any]:
    return env(fakes, model, **{f"{provider}_api_key": KEY, f"{provider}_base_url": fakes[0].url})


def expected_cost(model: str, input_tokens: int, output_tokens: int) -> int:
    if model in PRICE_ROWS:
        rate_in, rate_out = (Decimal(rate) for rate in PRICE_ROWS[model])
        return usd_to_nanos((input_tokens * rate_in + output_tokens * rate_out) / 1_000_000)
    provider = model.split("/", 1)[0]
    return genai_cost(provider, model, input_tokens, output_tokens)


@pytest.mark.parametrize(("provider", "model", "blind"), CASES)
async def test_a_photo_reaches_each_provider_as_its_api_takes_it_and_is_charged_what_it_billed(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch, provider: str, model: str, blind: str
) -> None:
    fake = fakes[0]
    async with harness(tmp_path, **provider_env(fakes, provider, model)) as h:
        granted = spy_reserves(h, monkeypatch)
        reply = RecordingReply()
        await h.core.handle(with_photos("What is in this picture?", photo(1600, 1200)), reply)
        assert reply.answers and not reply.lines
        body = fake.requests[-1].body
        assert body["model"] == model.split("/", 1)[1]
        text, image = body["messages"][-1]["content"]
        assert text == {"type": "text", "text": "What is in this picture?"}
        assert image["type"] == "image_url"
        url = image["image_url"]
        # an object with the data URL; OpenAI's `detail` only where the API documents it (xAI)
        assert set(url) == ({"url", "detail"} if provider == "xai" else {"url"})
        assert url["url"].startswith("data:image/jpeg;base64,") and url.get("detail", "high") == "high"
        (billed,) = fake.billed_images
        family = family_for(model)
        assert family is not None
        held_for_image = family.count(billed.width, billed.height)
        assert (billed.width, billed.height) == family.fit(1600, 1200)
        assert held_for_image >= billed.tokens > 0
        (charge,) = await settled(h)
        (reserved,) = granted
    assert charge["input_tokens"] == 12 + billed.tokens  # the fake's 12 text tokens and the image's
    assert charge["cost"] == expected_cost(model, charge["input_tokens"], charge["output_tokens"])
    assert 0 < charge["cost"] <= reserved.hold.amount
    image_alone = expected_cost(model, held_for_image, 0)  # the image's part of the hold, at its price
    assert reserved.quote.input_nanos >= image_alone


@pytest.mark.parametrize(("provider", "model", "blind"), CASES[1:])
async def test_a_blind_model_of_the_same_provider_still_refuses(
    tmp_path: Path, fakes: Fakes, provider: str, model: str, blind: str
) -> None:
    fake = fakes[0]
    async with harness(tmp_path, **provider_env(fakes, provider, blind)) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(300, 300)), reply)
        assert len(reply.lines) == 1 and not reply.answers
        assert f"{blind} can't see images" in reply.last
        first_seeing = next(
            f"{provider}/{m}" for m in BY_NAME[provider].models if family_for(f"{provider}/{m}")
        )
        assert first_seeing in reply.last  # the refusal names this provider's own model that sees
        assert fake.requests == [] and await settled(h) == []


async def test_a_webp_photo_reaches_grok_as_a_jpeg(tmp_path: Path, fakes: Fakes) -> None:
    """xAI takes JPEG and PNG only (the fake answers anything else with a 400, as the API does)."""
    fake = fakes[0]
    async with harness(tmp_path, **provider_env(fakes, "xai", "xai/grok-4-0709")) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("And this?", photo(640, 480, "WEBP")), reply)
        assert reply.answers and not reply.lines
        (billed,) = fake.billed_images
        assert billed.mime == "image/jpeg" and (billed.width, billed.height) == (640, 480)
        assert billed.tokens == (2 * 2 + 1) * 256
        (charge,) = await settled(h)
    assert charge["input_tokens"] == 12 + billed.tokens
