"""OpenAI-compatible chat completions, streamed: OpenAI and the many servers that copy its format.

Request: `POST {base}/chat/completions` with `stream: true` and `stream_options.include_usage`, so the
last chunk carries the usage. Servers differ in what their usage fields mean, so each catalog row names
its reading (`usage_from` below): where cached tokens are counted, whether reasoning tokens are inside
`completion_tokens` (OpenAI and most) or on top of them (xAI), whether a dollar cost is reported
(OpenRouter). Groq may report usage under `x_groq`, and an error can arrive as a chunk inside a 200 stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    StreamEvent,
    TextDelta,
    TokenUsage,
    UsageUpdate,
)
from bot.providers.catalog import ProviderSpec, UsageReading
from bot.providers.http import Endpoint, parse_json, stream_error, stream_events
from bot.providers.transcription import AudioFile, Transcript, transcribe


class OpenAIChat:
    """One OpenAI-compatible endpoint. `url_for(model)` gives the completions URL (Azure puts the
    deployment in the path; everyone else uses one URL)."""

    def __init__(self, spec: ProviderSpec, endpoint: Endpoint, url_for: Callable[[str], str]) -> None:
        self.name = spec.name
        self._spec = spec
        self._endpoint = endpoint
        self._url_for = url_for

    def transcriptions_url(self, model: str) -> str:
        """`POST .../audio/transcriptions` next to the completions URL (Azure: the same deployment)."""
        completions = self._url_for(model)
        path, query = completions.split("?", 1) if "?" in completions else (completions, "")
        url = path.removesuffix("chat/completions") + "audio/transcriptions"
        return f"{url}?{query}" if query else url

    async def transcribe(self, model: str, audio: AudioFile) -> Transcript:
        """Speech to text with this endpoint's key (`bot.providers.transcription`)."""
        return await transcribe(self._endpoint, self.transcriptions_url(model), model, audio)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The request, adjusted by the catalog row for the servers that differ from OpenAI."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": m.role, "content": _content(m, self._spec.image_detail)} for m in request.messages
            ],
            "stream": True,
            self._spec.output_limit_field: request.max_output_tokens,
            **request.sampling_fields("temperature", "top_p", "stop"),
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
                yield UsageUpdate(usage_from(raw_usage, self._spec.usage))
        if not finished:
            raise ProviderError("malformed", "the stream ended before the answer did", provider=self.name)


def _content(message: ChatMessage, detail: bool = True) -> str | list[dict[str, Any]]:
    """Plain text, or text and images as parts: each image inline as a base64 `data:` URL in an `image_url`
    object (the shape every compatible API takes: Mistral also takes a bare string, Zhipu and Moonshot only
    the object), with its `detail` where the catalog row says the API takes one. An image sent without
    words (as the gateway may pass one on) has no empty text part."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for image in message.images:
        url: dict[str, str] = {"url": image.data_url()}
        if detail:
            url["detail"] = image.detail
        parts.append({"type": "image_url", "image_url": url})
    return parts


def usage_from(raw: dict[str, Any], reading: UsageReading = "openai") -> TokenUsage:
    """An OpenAI-style usage object → TokenUsage (input includes cached, output includes reasoning), read
    the way the provider documents it. Every reading starts from OpenAI's own:

    - "openai": `prompt_tokens` include `prompt_tokens_details.cached_tokens`; `completion_tokens` include
      `completion_tokens_details.reasoning_tokens` (also Azure, Mistral, Zhipu, DashScope, Qianfan, Groq,
      Ollama: the fields they leave out read as zero).
    - "deepseek": cache hits are `prompt_cache_hit_tokens` (hit + miss = `prompt_tokens`).
    - "moonshot": cache hits are a top-level `cached_tokens` (or OpenAI's field, where Kimi sends that).
    - "xai": reasoning tokens are billed ON TOP of `completion_tokens`, so they are added to the output.
    - "openrouter": also `prompt_tokens_details.cache_write_tokens`, and the dollar `cost` it charged.
    """
    prompt_details = raw.get("prompt_tokens_details") or {}
    output_details = raw.get("completion_tokens_details") or {}
    cached = _count(prompt_details.get("cached_tokens"))
    written = 0
    output = _count(raw.get("completion_tokens"))
    reasoning = _count(output_details.get("reasoning_tokens"))
    cost: Decimal | None = None
    if reading == "deepseek":
        cached = _count(raw.get("prompt_cache_hit_tokens"))
    elif reading == "moonshot":
        cached = _count(raw.get("cached_tokens")) or cached
    elif reading == "xai":
        output += reasoning
    elif reading == "openrouter":
        written = _count(prompt_details.get("cache_write_tokens"))
        cost = _cost(raw.get("cost"))
    return TokenUsage(
        input_tokens=_count(raw.get("prompt_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=reasoning,
        reported_cost_usd=cost,
    )


def _count(value: Any) -> int:
    """A token count, or 0 for a field the server left out (or sent as null)."""
    return int(value or 0)


def _cost(value: Any) -> Decimal | None:
    """A reported dollar cost; None (price it ourselves) when it is missing or not a sane amount."""
    if value is None:
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None
