"""Google Gemini, streamed (`POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`).

Auth is the `x-goog-api-key` header (never the `?key=` query, which would put the key in URLs and logs).
`maxOutputTokens` is always sent: it is what keeps a reserved worst case true. `usageMetadata` is
cumulative; thinking tokens (`thoughtsTokenCount`) are billed as output, and thought parts are not shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

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


def headers(key: str) -> dict[str, str]:
    """The key as a header, so it never appears in a URL (or in a log that prints one)."""
    return {"x-goog-api-key": key}


class GeminiChat:
    """Gemini's generateContent as a `Provider`: roles become user/model, system messages an instruction."""

    def __init__(self, spec: ProviderSpec, endpoint: Endpoint, base_url: str) -> None:
        self.name = spec.name
        self._endpoint = endpoint
        self._base = base_url.rstrip("/")

    def url(self, model: str) -> str:
        """The model is in the path, so it is quoted; `alt=sse` asks for SSE instead of a JSON array."""
        return f"{self._base}/v1beta/models/{quote(model, safe='.-_')}:streamGenerateContent?alt=sse"

    @staticmethod
    def body(request: ChatRequest) -> dict[str, Any]:
        """The request, with `maxOutputTokens` always set: the reserved worst case depends on it."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": _parts(m)}
                for m in request.messages
                if m.role != "system"
            ],
            "generationConfig": {
                "maxOutputTokens": request.max_output_tokens,
                **request.sampling_fields("temperature", "topP", "stopSequences"),
            },
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text of the first candidate (thoughts hidden); a stream without a finish reason is `malformed`."""
        finished = False
        async for event in stream_events(self._endpoint, self.url(request.model), self.body(request)):
            data = parse_json(self._endpoint, event.data)
            if "error" in data:
                raise stream_error(self._endpoint, data["error"])
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                raise ProviderError("bad_request", f"the prompt was blocked ({blocked})", provider=self.name)
            for candidate in (data.get("candidates") or [])[:1]:
                for part in (candidate.get("content") or {}).get("parts") or ():
                    if part.get("text") and not part.get("thought"):
                        yield TextDelta(str(part["text"]))
                if candidate.get("finishReason"):
                    finished = True
            if isinstance(meta := data.get("usageMetadata"), dict):
                yield UsageUpdate(_usage(meta))
        if not finished:
            raise ProviderError("malformed", "the stream ended without a finish reason", provider=self.name)


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    """The images as `inline_data` (base64), then the text; an image without words has no empty text
    part (Gemini refuses one)."""
    images = [{"inline_data": {"mime_type": i.mime, "data": i.base64()}} for i in message.images]
    return [*images, {"text": message.content}] if message.content or not images else images


def _usage(meta: dict[str, Any]) -> TokenUsage:
    """The "gemini" reading: cachedContentTokenCount is inside promptTokenCount, thoughtsTokenCount is
    apart from candidatesTokenCount (both billed as output, and both bounded by maxOutputTokens)."""
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return TokenUsage(
        input_tokens=int(meta.get("promptTokenCount") or 0),
        cache_read_tokens=int(meta.get("cachedContentTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        reasoning_tokens=thoughts,
    )
