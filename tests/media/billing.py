"""What a provider request carried and what its usage costs, read independently of the bot: the image
bytes of the last user message in each wire format, and genai-prices' price for the tokens reported."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import genai_prices

from bot.money import usd_to_nanos

GENAI = {
    "openai": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "mistral": "mistral",
    "xai": "x-ai",
    "moonshot": "moonshotai",
}


def sent_images(provider: str, body: dict[str, Any]) -> list[bytes]:
    """The image bytes of the last user message, read the way each wire format carries them (an
    OpenAI-compatible image is a base64 JPEG data URL, never a link to fetch)."""
    if provider == "google":
        parts = body["contents"][-1]["parts"]
        return [base64.b64decode(p["inline_data"]["data"]) for p in parts if "inline_data" in p]
    content = body["messages"][-1]["content"]
    if provider == "anthropic":
        return [base64.b64decode(p["source"]["data"]) for p in content if p["type"] == "image"]
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    assert all(url.startswith("data:image/jpeg;base64,") for url in urls)
    return [base64.b64decode(url.split(",", 1)[1]) for url in urls]


def genai_cost(
    provider: str, model: str, input_tokens: int, output_tokens: int, *, audio_tokens: int = 0
) -> int:
    """What genai-prices says those tokens of `model` ("provider/name") cost, in nano-dollars
    (`audio_tokens`: how many of the input tokens were audio)."""
    usage = genai_prices.Usage(
        input_tokens=input_tokens, input_audio_tokens=audio_tokens or None, output_tokens=output_tokens
    )
    price = genai_prices.calc_price(
        usage,
        model.split("/", 1)[1],
        provider_id=GENAI[provider],
    )
    return usd_to_nanos(Decimal(price.total_price))
