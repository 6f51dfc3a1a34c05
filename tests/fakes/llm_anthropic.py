"""A fake Anthropic Messages API on 127.0.0.1, streaming exactly as `POST /v1/messages` does.

The stream is framed as Anthropic frames it, `event: NAME\\ndata: {compact json}\\n\\n`, in the real order:
`message_start` (usage with `input_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens` and
one output token), `content_block_start`, `ping`, `content_block_delta`s (`thinking_delta` in a thinking
block when scripted, then `text_delta`s), `content_block_stop`, `message_delta` with the stop reason and the
cumulative usage, `message_stop`. Errors use Anthropic's bodies and statuses (`{"type":"error","error":
{"type":"overloaded_error","message":"Overloaded"}}` with 529, 429 with `retry-after`, 401, 400 "prompt is
too long"), and an `event: error` can arrive inside a 200 stream. Requests are recorded like FakeOpenAI's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.image_billing import Billed, NotAnImage, anthropic_image
from tests.fakes.llm_server import FakeModelServer

DeltaUsage = Literal["output", "full"]


@dataclass
class Script:
    """What the fake sends for one request. Defaults: a short answer with exact usage."""

    text: str = "Hello from the fake Claude."
    thinking: str | None = None  # a thinking block before the text (never shown to people)
    input_tokens: int = 12  # uncached input, as Anthropic counts it (cache tokens are apart)
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int | None = None  # None: one per word of thinking and text (or per filled token)
    # "output": message_delta carries only output_tokens (the classic API); "full": every count, cumulative
    delta_usage: DeltaUsage = "output"
    stop_reason: str = "end_turn"
    fill_to_limit: bool = False  # answer with exactly max_tokens tokens
    status: int = 200  # not 200: send `error_body` with this status and no stream
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after_words: int | None = None  # close the connection after this many text words
    error_event_after_words: int | None = None  # an `event: error` (overloaded) inside the 200 stream
    error_event: dict[str, Any] | None = None  # the error event's body (default: overloaded_error)
    malformed_after_words: int | None = None  # a data line that is not JSON
    stall_after_words: int | None = None  # go silent (until the fake stops) after this many words
    stall_before_headers: bool = False  # never answer at all (until the fake stops)
    comments: bool = False  # interleave ": keep-alive" comment lines (proxies add them)
    no_message_stop: bool = False  # end the HTTP response cleanly but without message_stop


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011CFakeReq"}


def overloaded() -> Script:
    return Script(status=529, error_body=anthropic_error("overloaded_error", "Overloaded"))


def rate_limited(retry_after: str = "0") -> Script:
    message = (
        "This request would exceed the rate limit for your organization of 50,000 input tokens per minute."
    )
    return Script(
        status=429,
        error_body=anthropic_error("rate_limit_error", message),
        headers={"retry-after": retry_after, "anthropic-ratelimit-input-tokens-remaining": "0"},
    )


def unauthorized() -> Script:
    return Script(status=401, error_body=anthropic_error("authentication_error", "invalid x-api-key"))


def prompt_too_long() -> Script:
    message = "prompt is too long: 208923 tokens > 200000 maximum"
    return Script(status=400, error_body=anthropic_error("invalid_request_error", message))


def _frame(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


class FakeAnthropic(FakeModelServer[Script]):
    """`async with FakeAnthropic() as fake:` serves it at `fake.url`; when it stops, stalled answers end."""

    def __init__(self) -> None:
        super().__init__(Script())
        self.billed_images: list[Billed] = []  # every image block received, as billed (input tokens)

    @property
    def url(self) -> str:
        """The base URL (no /v1: the client appends /v1/messages)."""
        return self.root

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        return app

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        script = self.next_script()
        try:
            images = [
                anthropic_image(block["source"])
                for message in body.get("messages", [])
                if isinstance(message.get("content"), list)
                for block in message["content"]
                if block.get("type") == "image"
            ]
        except NotAnImage as bad:
            error = anthropic_error("invalid_request_error", f"Could not process image: {bad}")
            return web.json_response(error, status=400)
        self.billed_images.extend(images)
        if images:  # billed as input tokens, on top of the text's
            script = dataclasses.replace(
                script, input_tokens=script.input_tokens + sum(i.tokens for i in images)
            )
        if script.stall_before_headers:
            await self.release.wait()
        if script.status != 200:
            error = script.error_body or anthropic_error("api_error", "Internal server error")
            return web.json_response(error, status=script.status, headers=script.headers)
        try:
            return await self._stream(request, body, script)
        except ConnectionError:  # the client went away (a timeout test): nothing more to send
            return web.Response()

    async def _stream(self, request: web.Request, body: dict[str, Any], script: Script) -> web.StreamResponse:
        limit = int(body.get("max_tokens") or 1_000_000)
        words = [w + " " for w in script.text.split(" ")]
        if script.fill_to_limit:
            words = (words * (limit // max(len(words), 1) + 1))[:limit]
        thoughts = script.thinking.split(" ") if script.thinking else []
        output = script.output_tokens if script.output_tokens is not None else len(words) + len(thoughts)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        async def send(event: str, payload: dict[str, Any]) -> None:
            if script.comments:
                await response.write(b": keep-alive\n\n")
            await response.write(_frame(event, payload))

        start_usage = {
            "input_tokens": script.input_tokens,
            "cache_creation_input_tokens": script.cache_creation_input_tokens,
            "cache_read_input_tokens": script.cache_read_input_tokens,
            "output_tokens": 1,
        }
        message: dict[str, Any] = {
            "id": "msg_01FakeFakeFake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        await send("message_start", {"type": "message_start", "message": message})
        index = 0
        if thoughts:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            await send(
                "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
            )
            for word in thoughts:
                delta = {"type": "thinking_delta", "thinking": word + " "}
                await send("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            delta = {
                "type": "signature_delta",
                "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk",
            }
            await send("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
            await send("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        block = {"type": "text", "text": ""}
        await send(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        await send("ping", {"type": "ping"})
        for n, word in enumerate(words):
            if n == script.cut_after_words:
                if request.transport is not None:
                    request.transport.close()
                return response
            if n == script.error_event_after_words:
                await send("error", script.error_event or anthropic_error("overloaded_error", "Overloaded"))
                await response.write_eof()
                return response
            if n == script.malformed_after_words:
                await response.write(b'event: content_block_delta\ndata: {"type":"content_block_delta",\n\n')
                await response.write_eof()
                return response
            if n == script.stall_after_words:
                await self.release.wait()
                return response
            delta = {"type": "text_delta", "text": word}
            await send("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        await send("content_block_stop", {"type": "content_block_stop", "index": index})
        usage: dict[str, Any] = {"output_tokens": output}
        if script.delta_usage == "full":
            usage = {**start_usage, "output_tokens": output}
        stop = {"stop_reason": script.stop_reason, "stop_sequence": None}
        await send("message_delta", {"type": "message_delta", "delta": stop, "usage": usage})
        if not script.no_message_stop:
            await send("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response
