"""Each catalog provider's usage report, shaped exactly as that provider documents it, and what it means.

`DOCUMENTED[provider].usage` is the usage object the provider's API reference shows (field names, nesting,
the extra fields it adds); `priced` is the same report in genai-prices' terms (input includes cached,
output includes reasoning), written from the provider's documentation, not from capbot's reading. Where
genai-prices has its own extractor for that API (`flavor`), tests check it reads the payload the same way.

`at_the_limit(provider, limit)` is the report of an answer that spends all but one token of the output
limit on reasoning, for checking that the hold bounds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import genai_prices

from bot.providers.catalog import BY_NAME


@dataclass(frozen=True)
class Documented:
    model: str
    usage: dict[str, Any]  # the final (cumulative) usage object, as documented
    priced: genai_prices.Usage
    flavor: str | None = None  # genai-prices' extractor for this API, where it has one that applies


PROMPT, CACHED, OUTPUT, REASONING = 60, 24, 340, 300
PRICED = genai_prices.Usage(
    input_tokens=PROMPT, cache_read_tokens=CACHED, output_tokens=OUTPUT, output_reasoning_tokens=REASONING
)
PLAIN = genai_prices.Usage(input_tokens=PROMPT, output_tokens=OUTPUT)
CACHED_ONLY = genai_prices.Usage(input_tokens=PROMPT, cache_read_tokens=CACHED, output_tokens=OUTPUT)


def _openai_usage(**extra: Any) -> dict[str, Any]:
    """OpenAI's chat completions usage object (API reference, "The chat completion object")."""
    return {
        "prompt_tokens": PROMPT,
        "completion_tokens": OUTPUT,
        "total_tokens": PROMPT + OUTPUT,
        "prompt_tokens_details": {"cached_tokens": CACHED, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": REASONING,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        **extra,
    }


def _plain_usage() -> dict[str, Any]:
    """The three fields every OpenAI-compatible server sends (Mistral, Qianfan, Ollama: only these)."""
    return {"prompt_tokens": PROMPT, "completion_tokens": OUTPUT, "total_tokens": PROMPT + OUTPUT}


DOCUMENTED: dict[str, Documented] = {
    "openai": Documented("gpt-5-mini", _openai_usage(), PRICED, "chat"),
    "azure": Documented("gpt-4o-mini", _openai_usage(), PRICED, "chat"),
    "mistral": Documented("mistral-small-latest", _plain_usage(), PLAIN, "default"),
    # DeepSeek: cache hits and misses at the top level (hit + miss = prompt_tokens), OpenAI's cached field
    # too; the chain of thought is inside completion_tokens (completion_tokens_details.reasoning_tokens)
    "deepseek": Documented(
        "deepseek-reasoner",
        {
            "prompt_tokens": PROMPT,
            "completion_tokens": OUTPUT,
            "total_tokens": PROMPT + OUTPUT,
            "prompt_tokens_details": {"cached_tokens": CACHED},
            "prompt_cache_hit_tokens": CACHED,
            "prompt_cache_miss_tokens": PROMPT - CACHED,
            "completion_tokens_details": {"reasoning_tokens": REASONING},
        },
        PRICED,
        "chat",
    ),
    # Moonshot documents cache hits as a top-level cached_tokens (genai-prices reads OpenAI's field only)
    "moonshot": Documented(
        "kimi-k2-thinking",
        {
            "prompt_tokens": PROMPT,
            "completion_tokens": OUTPUT,
            "total_tokens": PROMPT + OUTPUT,
            "cached_tokens": CACHED,
            "completion_tokens_details": {"reasoning_tokens": REASONING},
        },
        PRICED,
    ),
    "zhipu": Documented(
        "glm-4.5-air",
        {
            "prompt_tokens": PROMPT,
            "completion_tokens": OUTPUT,
            "prompt_tokens_details": {"cached_tokens": CACHED},
            "total_tokens": PROMPT + OUTPUT,
        },
        CACHED_ONLY,
        "chat",
    ),
    "dashscope": Documented(
        "qwen-plus",
        {
            "prompt_tokens": PROMPT,
            "completion_tokens": OUTPUT,
            "total_tokens": PROMPT + OUTPUT,
            "prompt_tokens_details": {"cached_tokens": CACHED},
        },
        CACHED_ONLY,
    ),
    "qianfan": Documented("ernie-4.5-turbo-128k", _plain_usage(), PLAIN),
    # OpenRouter: OpenAI's fields plus the dollar cost it charged (what capbot charges)
    "openrouter": Documented(
        "openai/gpt-4o-mini",
        _openai_usage(cost=0.000187, is_byok=False, cost_details={"upstream_inference_cost": None}),
        PRICED,
        "chat",
    ),
    # xAI: reasoning_tokens are NOT inside completion_tokens; total = prompt + completion + reasoning
    "xai": Documented(
        "grok-3-mini",
        {
            "prompt_tokens": PROMPT,
            "completion_tokens": OUTPUT - REASONING,
            "total_tokens": PROMPT + OUTPUT,
            "prompt_tokens_details": {
                "text_tokens": PROMPT,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": CACHED,
            },
            "completion_tokens_details": {
                "reasoning_tokens": REASONING,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
            "num_sources_used": 0,
        },
        PRICED,
        "chat",
    ),
    # Groq: OpenAI's fields plus timings in seconds (at the top level, or all of it under x_groq.usage)
    "groq": Documented(
        "openai/gpt-oss-120b",
        {
            "queue_time": 0.0171,
            "prompt_tokens": PROMPT,
            "prompt_time": 0.0032,
            "completion_tokens": OUTPUT,
            "completion_time": 0.2,
            "total_tokens": PROMPT + OUTPUT,
            "total_time": 0.2032,
            "prompt_tokens_details": {"cached_tokens": CACHED},
            "completion_tokens_details": {"reasoning_tokens": REASONING},
        },
        PRICED,
        "default",
    ),
    "ollama": Documented("llama3.2", _plain_usage(), PLAIN),
    # Anthropic: cache writes and reads apart from input_tokens; thinking inside output_tokens
    "anthropic": Documented(
        "claude-haiku-4-5",
        {
            "input_tokens": PROMPT - CACHED - 16,
            "cache_creation_input_tokens": 16,
            "cache_read_input_tokens": CACHED,
            "output_tokens": OUTPUT,
        },
        genai_prices.Usage(
            input_tokens=PROMPT, cache_write_tokens=16, cache_read_tokens=CACHED, output_tokens=OUTPUT
        ),
        "default",
    ),
    # Gemini: cachedContentTokenCount inside promptTokenCount; thoughtsTokenCount apart from candidates
    "google": Documented(
        "gemini-2.5-flash",
        {
            "promptTokenCount": PROMPT,
            "candidatesTokenCount": OUTPUT - REASONING,
            "thoughtsTokenCount": REASONING,
            "cachedContentTokenCount": CACHED,
            "totalTokenCount": PROMPT + OUTPUT,
        },
        PRICED,
        "default",
    ),
}


def at_the_limit(provider: str, limit: int) -> Documented:
    """An answer of one token after `limit - 1` reasoning tokens, reported as the provider reports it."""
    doc = DOCUMENTED[provider]
    thought, answer = limit - 1, 1
    priced = genai_prices.Usage(input_tokens=PROMPT, output_tokens=limit, output_reasoning_tokens=thought)
    usage: dict[str, Any]
    if provider == "anthropic":
        usage = {"input_tokens": PROMPT, "output_tokens": limit}
        priced = genai_prices.Usage(input_tokens=PROMPT, output_tokens=limit)
    elif provider == "google":
        usage = {
            "promptTokenCount": PROMPT,
            "candidatesTokenCount": answer,
            "thoughtsTokenCount": thought,
            "totalTokenCount": PROMPT + limit,
        }
    else:
        inside = BY_NAME[provider].usage != "xai"  # xAI counts reasoning on top of completion_tokens
        usage = {
            "prompt_tokens": PROMPT,
            "completion_tokens": limit if inside else answer,
            "total_tokens": PROMPT + limit,
            "completion_tokens_details": {"reasoning_tokens": thought},
        }
    return Documented(doc.model, usage, priced, doc.flavor)
