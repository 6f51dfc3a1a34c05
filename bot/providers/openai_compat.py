"""OpenAI-compatible chat completions, streamed: OpenAI and the many servers that copy its format.

Request: `POST {base}/chat/completions` with `stream: true` and `stream_options.include_usage`, so the
last chunk carries the usage. Servers differ in where they put cached tokens (`prompt_tokens_details`,
DeepSeek's `prompt_cache_hit_tokens`, Moonshot's `cached_tokens`), Groq reports usage under `x_groq`,
OpenRouter adds the dollar `cost`, and an error can arrive as a chunk inside a 200 stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.providers.base import ChatRequest, ProviderError, StreamEvent, TextDelta, TokenUsage, UsageUpdate
from bot.providers.catalog import ProviderSpec
from bot.providers.http import Endpoint, parse_json, stream_error, stream_events


class OpenAIChat:
    """One OpenAI-compatible endpoint. `url_for(model)` gives the completions URL (Azure puts the
    deployment in the path; everyone else uses one URL)."""

    def __init__(self, spec: ProviderSpec, endpoint: Endpoint, url_for: Callable[[str], str]) -> None:
        self.name = spec.name
        self._spec = spec
        self._endpoint = endpoint
        self._url_for = url_for

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The request, adjusted by the catalog row for the servers that differ from OpenAI."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            self._spec.output_limit_field: request.max_output_tokens,
        }
        if self._spec.stream_usage_option:
            body["stream_options"] = {"include_usage": True}
        body.update(dict(self._spec.extra_body))
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events until `[DONE]`; a stream that ends with neither it nor a finish reason is `malformed`."""
        finished = False
        url = self._url_for(request.model)
        async for event in stream_events(self._endpoint, url, self.body(request)):
            if event.data.strip() == "[DONE]":
                finished = True
                break
            chunk = parse_json(self._endpoint, event.data)
            if "error" in chunk:
                raise stream_error(self._endpoint, chunk["error"])
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if text := delta.get("content"):
                    yield TextDelta(str(text))
                if choice.get("finish_reason"):
                    finished = True
            raw_usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
            if isinstance(raw_usage, dict):
                yield UsageUpdate(usage_from(raw_usage, reports_cost=self._spec.reports_cost))
        if not finished:
            raise ProviderError("malformed", "the stream ended before the answer did", provider=self.name)


def usage_from(raw: dict[str, Any], *, reports_cost: bool = False) -> TokenUsage:
    """OpenAI-style usage → TokenUsage (prompt tokens include the cached ones, as in OpenAI's own)."""
    prompt_details = raw.get("prompt_tokens_details") or {}
    output_details = raw.get("completion_tokens_details") or {}
    cached = (
        prompt_details.get("cached_tokens")
        or raw.get("prompt_cache_hit_tokens")
        or raw.get("cached_tokens")
        or 0
    )
    cost: Decimal | None = None
    if reports_cost and raw.get("cost") is not None:
        try:
            cost = Decimal(str(raw["cost"]))
        except InvalidOperation:
            cost = None
        if cost is not None and (not cost.is_finite() or cost < 0):
            cost = None
    return TokenUsage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        cache_read_tokens=int(cached),
        output_tokens=int(raw.get("completion_tokens") or 0),
        reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
        reported_cost_usd=cost,
    )
