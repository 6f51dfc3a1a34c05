"""The image token formulas against the providers' own worked examples, and the ways of sending an image
getting cheaper as they get smaller."""

from __future__ import annotations

import itertools

import pytest

from bot.media.image_tokens import sizings
from bot.media.vision import family_for


@pytest.mark.parametrize(
    ("model", "size", "detail", "tokens"),
    [
        # OpenAI's guide: a 1024x1024 image is 765 tokens on gpt-4o (4 tiles), 2048x4096 is 1105 (6 tiles),
        # and any image at detail low is the base alone
        ("openai/gpt-4o", (1024, 1024), "high", 765),
        ("openai/gpt-4o", (2048, 4096), "high", 1105),
        ("openai/gpt-4o", (4096, 8192), "low", 85),
        ("openai/gpt-4o-mini", (1024, 1024), "high", 2833 + 4 * 5667),
        ("azure/gpt-4o-mini", (1024, 1024), "low", 2833),
        ("openai/gpt-5", (1024, 1024), "high", 70 + 4 * 140),
        # patches: 1024x1024 is 1024 patches; 1800x2400 is scaled to 1056x1408, 1452 patches
        ("openai/gpt-4.1-mini", (1024, 1024), "high", 1659),  # 1024 x 1.62, rounded up
        ("openai/gpt-4.1-mini", (1800, 2400), "high", 2353),  # 1452 x 1.62
        ("openai/gpt-4.1-nano", (1024, 1024), "high", 2520),  # 1024 x 2.46
        # Anthropic's guide: 200x200 is about 54 tokens, 1092x1092 about 1590
        ("anthropic/claude-haiku-4-5", (200, 200), "high", 54),
        ("anthropic/claude-sonnet-4-5", (1092, 1092), "high", 1590),
        # Gemini's guide: within 384x384 one 258-token image; 960x540 is 6 tiles
        ("google/gemini-2.0-flash", (384, 384), "high", 258),
        ("google/gemini-2.5-flash", (960, 540), "high", 6 * 258),
    ],
)
def test_documented_examples(model: str, size: tuple[int, int], detail: str, tokens: int) -> None:
    family = family_for(model)
    assert family is not None
    width, height = family.fit(*size)
    assert family.count(width, height, "low" if detail == "low" else "high") == tokens


def test_the_full_size_is_what_the_provider_would_look_at() -> None:
    anthropic, gemini3 = family_for("anthropic/claude-haiku-4-5"), family_for("google/gemini-3-pro-preview")
    assert anthropic is not None and gemini3 is not None
    width, height = anthropic.fit(4000, 3000)
    assert max(width, height) <= 1568 and anthropic.count(width, height) <= 1600
    assert gemini3.fit(4000, 3000) == (3072, 2304) and gemini3.count(3072, 2304) == 1120


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5"])
def test_each_smaller_way_of_sending_costs_less(model: str) -> None:
    family = family_for(model)
    assert family is not None
    ways = sizings(family, 3000, 2000)
    assert len(ways) > 1
    assert all(later.tokens < earlier.tokens for earlier, later in itertools.pairwise(ways))
    assert all(later.width <= earlier.width for earlier, later in itertools.pairwise(ways))


@pytest.mark.parametrize(
    "model", ["deepseek/deepseek-chat", "openai/gpt-3.5-turbo", "mistral/codestral-latest"]
)
def test_models_without_a_row_cant_see(model: str) -> None:
    assert family_for(model) is None
