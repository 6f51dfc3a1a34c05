"""Anthropic Messages, streamed (`POST {base}/v1/messages`, `x-api-key`, `anthropic-version`).

Usage arrives twice: `message_start` carries the input side (with cache creation and cache read tokens
counted apart from `input_tokens`), and each `message_delta` carries cumulative totals, so we merge and
report the latest, never a sum. Errors can come as an `error` event inside a 200 stream; 529 means
overloaded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from bot.providers.catalog import ProviderSpec
from bot.providers.http import Endpoint, parse_json, stream_error, stream_events

API_VERSION = "2023-06-01"


def headers(key: str) -> dict[str, str]:
    """Anthropic's own key header, and the API version it requires on every call."""
    return {"x-api-key": key, "anthropic-version": API_VERSION}


class AnthropicMessages:
    """The Messages API as a `Provider`: system messages move to `system`, usage is merged as it comes."""

    def __init__(self, spec: ProviderSpec, endpoint: Endpoint, base_url: str) -> None:
        self.name = spec.name
        self._endpoint = endpoint
        self._url = base_url.rstrip("/") + "/v1/messages"

    @staticmethod
    def body(request: ChatRequest) -> dict[str, Any]:
        """The request; `max_tokens` is required here, and is what keeps the reserved worst case true."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_output_tokens,
            "messages": [
                {"role": m.role, "content": _content(m)} for m in request.messages if m.role != "system"
            ],
            "stream": True,
            **request.sampling_fields("temperature", "top_p", "stop_sequences"),
        }
        if system:
            body["system"] = system
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Events up to `message_stop`; a stream that ends before it is `malformed` (the answer was cut)."""
        counts: dict[str, int] = {}
        stopped = False
        async for event in stream_events(self._endpoint, self._url, self.body(request)):
            data = parse_json(self._endpoint, event.data)
            kind = data.get("type") or event.event
            if kind == "message_start":
                _merge(counts, (data.get("message") or {}).get("usage"))
                yield UsageUpdate(_usage(counts))
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield TextDelta(str(delta["text"]))
            elif kind == "message_delta":
                _merge(counts, data.get("usage"))
                yield UsageUpdate(_usage(counts))
            elif kind == "message_stop":
                stopped = True
                break
            elif kind == "error":
                raise stream_error(self._endpoint, data.get("error") or {})
        if not stopped:
            raise ProviderError("malformed", "the stream ended before message_stop", provider=self.name)


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """Plain text, or the images as base64 `image` sources followed by the text (Anthropic's advice); an
    image without words has no text block (Anthropic refuses an empty one)."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": image.mime, "data": image.base64()}}
        for image in message.images
    ]
    return [*parts, {"type": "text", "text": message.content}] if message.content else parts


def _merge(counts: dict[str, int], usage: Any) -> None:
    """Later reports replace earlier ones field by field: the numbers are cumulative."""
    if isinstance(usage, dict):
        for key, value in usage.items():
            if isinstance(value, int):
                counts[key] = value


def _usage(counts: dict[str, int]) -> TokenUsage:
    """The "anthropic" reading: cache reads and writes are counted apart from `input_tokens` (our input
    includes them); thinking is inside `output_tokens`, which `max_tokens` bounds."""
    written = counts.get("cache_creation_input_tokens", 0)
    read = counts.get("cache_read_input_tokens", 0)
    return TokenUsage(
        input_tokens=counts.get("input_tokens", 0) + written + read,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=counts.get("output_tokens", 0),
    )
