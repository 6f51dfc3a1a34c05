"""A fake Gemini API on 127.0.0.1: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`.

Chunks are framed as Google frames them, `data: {json}\\r\\n\\r\\n`, each a GenerateContentResponse with
`candidates[0].content.parts` (thought parts marked `"thought": true` when scripted), a `finishReason` on
the last one, and `usageMetadata` that is cumulative (`promptTokenCount`, which includes
`cachedContentTokenCount`; `candidatesTokenCount`; `thoughtsTokenCount`; `totalTokenCount`). Errors use
Google's body `{"error":{"code":429,"message":...,"status":"RESOURCE_EXHAUSTED","details":[...]}}` with the
matching HTTP status; a bad key is Google's real 400 `API_KEY_INVALID`. Requests are recorded.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.image_billing import Billed, NotAnImage, gemini_image
from tests.fakes.llm_server import FakeModelServer

UsageMode = Literal["every", "last", "none"]


@dataclass
class Script:
    """What the fake sends for one request. Defaults: a short answer with exact usage."""

    text: str = "Hello from the fake Gemini."
    thought: str | None = None  # a thought summary part before the answer (never shown to people)
    prompt_tokens: int = 12  # promptTokenCount: includes the cached tokens
    cached_tokens: int = 0  # cachedContentTokenCount
    candidates_tokens: int | None = None  # None: one per word of text (or per filled token)
    thoughts_tokens: int = 0  # thoughtsTokenCount, billed as output
    usage: UsageMode = "every"  # usageMetadata on every chunk (as Gemini does), only the last, or never
    words_per_chunk: int = 2
    finish_reason: str = "STOP"
    fill_to_limit: bool = False  # answer with exactly maxOutputTokens tokens (finishReason MAX_TOKENS)
    status: int = 200  # not 200: send `error_body` with this status and no stream
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after_chunks: int | None = None  # close the connection after this many chunks
    error_chunk_after_chunks: int | None = None  # a {"error": ...} chunk inside the 200 stream
    malformed_after_chunks: int | None = None  # a data line that is not JSON
    no_finish: bool = False  # end the response cleanly, but no chunk carries a finishReason
    stall_before_headers: bool = False  # never answer (until the fake stops)


def gemini_error(code: int, status: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


def resource_exhausted(retry_delay: str = "0s") -> Script:
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests"
    )
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
    return Script(status=429, error_body=gemini_error(429, "RESOURCE_EXHAUSTED", message, [retry]))


def unavailable() -> Script:
    message = "The model is overloaded. Please try again later."
    return Script(status=503, error_body=gemini_error(503, "UNAVAILABLE", message))


def api_key_invalid() -> Script:
    """What Google really answers for a wrong key: 400, not 401."""
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    message = "API key not valid. Please pass a valid API key."
    return Script(status=400, error_body=gemini_error(400, "INVALID_ARGUMENT", message, [info]))


def input_too_long() -> Script:
    message = "The input token count (1212345) exceeds the maximum number of tokens allowed (1048576)."
    return Script(status=400, error_body=gemini_error(400, "INVALID_ARGUMENT", message))


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\r\n\r\n"


class FakeGemini(FakeModelServer[Script]):
    """`async with FakeGemini() as fake:` serves it at `fake.url`; when it stops, stalled answers end."""

    def __init__(self) -> None:
        super().__init__(Script())
        self.billed_images: list[Billed] = []  # every inline_data part received, as billed (prompt tokens)

    @property
    def url(self) -> str:
        """The base URL (the client appends /v1beta/models/...)."""
        return self.root

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1beta/models/{call}", self._generate)
        return app

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        model, _, method = request.match_info["call"].partition(":")
        if method != "streamGenerateContent" or request.query.get("alt") != "sse":
            message = f"Unexpected call {method!r} (alt={request.query.get('alt')!r}) for {model}"
            return web.json_response(gemini_error(400, "INVALID_ARGUMENT", message), status=400)
        script = self.next_script()
        try:
            images = [
                gemini_image(part["inline_data"])
                for content in body.get("contents", [])
                for part in content.get("parts", [])
                if "inline_data" in part
            ]
        except NotAnImage as bad:
            error = gemini_error(400, "INVALID_ARGUMENT", f"Unable to process input image: {bad}")
            return web.json_response(error, status=400)
        self.billed_images.extend(images)
        if images:  # billed as prompt tokens, on top of the text's
            script = dataclasses.replace(
                script, prompt_tokens=script.prompt_tokens + sum(i.tokens for i in images)
            )
        if script.stall_before_headers:
            await self.release.wait()
        if script.status != 200:
            error = script.error_body or gemini_error(500, "INTERNAL", "An internal error has occurred.")
            return web.json_response(error, status=script.status, headers=script.headers)
        return await self._stream(request, model, body, script)

    async def _stream(
        self, request: web.Request, model: str, body: dict[str, Any], script: Script
    ) -> web.StreamResponse:
        limit = int((body.get("generationConfig") or {}).get("maxOutputTokens") or 1_000_000)
        words = [w + " " for w in script.text.split(" ")]
        finish = script.finish_reason
        if script.fill_to_limit:
            words = (words * (limit // max(len(words), 1) + 1))[:limit]
            finish = "MAX_TOKENS"
        total = script.candidates_tokens if script.candidates_tokens is not None else len(words)
        step = max(script.words_per_chunk, 1)
        parts_list: list[list[dict[str, Any]]] = [
            [{"text": "".join(words[i : i + step])}] for i in range(0, len(words), step)
        ]
        if script.thought:
            parts_list.insert(0, [{"text": script.thought, "thought": True}])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n, parts in enumerate(parts_list):
            if n == script.cut_after_chunks:
                if request.transport is not None:
                    request.transport.close()
                return response
            if n == script.error_chunk_after_chunks:
                await response.write(_frame(gemini_error(500, "INTERNAL", "An internal error has occurred.")))
                await response.write_eof()
                return response
            if n == script.malformed_after_chunks:
                await response.write(b'data: {"candidates": [{"content": \r\n\r\n')
                await response.write_eof()
                return response
            last = n == len(parts_list) - 1
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if last and not script.no_finish:
                candidate["finishReason"] = finish
            chunk: dict[str, Any] = {
                "candidates": [candidate],
                "modelVersion": model,
                "responseId": "fakeResp",
            }
            if script.usage == "every" or (script.usage == "last" and last):
                shown = total if last else total * (n + 1) // len(parts_list)
                chunk["usageMetadata"] = self._usage(script, shown)
            await response.write(_frame(chunk))
        await response.write_eof()
        return response

    @staticmethod
    def _usage(script: Script, candidates: int) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "promptTokenCount": script.prompt_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": script.prompt_tokens + candidates + script.thoughts_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": script.prompt_tokens}],
        }
        if script.thoughts_tokens:
            meta["thoughtsTokenCount"] = script.thoughts_tokens
        if script.cached_tokens:
            meta["cachedContentTokenCount"] = script.cached_tokens
            meta["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": script.cached_tokens}]
        return meta
