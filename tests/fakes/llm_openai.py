"""A fake OpenAI-compatible chat completions server on 127.0.0.1, speaking the real streaming format.

It answers any `POST .../chat/completions` (so it stands in for OpenAI, Mistral, DeepSeek, OpenRouter,
Azure's deployment URLs, Ollama...) with `data: {...}` chunks, a usage chunk when the request asked for
one (`stream_options.include_usage`) and `data: [DONE]`, framed exactly as OpenAI does. Every request is
recorded (path, query, headers, JSON body). Tests script what comes next with `Script` objects: the
answer text, the usage reported, an error status with a real error body, a stream cut short or stalled
after some text, an error chunk inside a 200 stream, SSE comment lines, answers that use the whole output
limit, usage where Groq has sent it (`x_groq.usage` in the last chunk, with its timings, instead of a usage
chunk), and any provider's own usage object verbatim (`usage_body`: DeepSeek's cache fields, xAI's
reasoning on top...).

`GET .../models` answers like OpenRouter's model list once `model_list` is set (`listed_model` builds
entries of its real shape, prices as strings of dollars per token); until then it is a 404, as servers
without such a list answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.fakes.image_billing import Billed, NotAnImage, compatible_image
from tests.fakes.llm_server import FakeModelServer


@dataclass
class Script:
    """What the fake sends for one request. Defaults: a short answer with exact usage."""

    text: str = "Hello from the fake."
    echo: bool = False  # answer with the text of the request's last user message instead of `text`
    prompt_tokens: int = 12
    completion_tokens: int | None = None  # None: one per word of `text` (or per filled token)
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost: str | None = None  # OpenRouter's reported cost in dollars
    usage_body: dict[str, Any] | None = None  # the usage object exactly as given, instead of the fields above
    fill_to_limit: bool = False  # answer with exactly the request's output limit in tokens
    status: int = 200  # not 200: send `error_body` with this status and no stream
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: bool = True  # False: the server never reports usage (some local servers)
    # "chunk": a last chunk with only `usage` (include_usage); "x_groq": in `x_groq.usage` of the finish chunk
    usage_in: Literal["chunk", "x_groq"] = "chunk"
    cut_after_words: int | None = None  # close the connection after this many words, no [DONE]
    error_chunk_after_words: int | None = None  # send an error chunk inside the 200 stream
    malformed_after_words: int | None = None  # a data line that is not JSON
    end_after_words: int | None = None  # end the response cleanly, but with no finish_reason nor [DONE]
    stall_after_words: int | None = None  # go silent (until the fake stops) after this many words
    keepalive: bool = True  # interleave ": keep-alive" comment lines
    delay: float = 0.0  # seconds between chunks
    hold: asyncio.Event | None = None  # wait for this before answering (concurrency tests)


def _last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message (its text parts, when it has parts): what an echo answers."""
    content = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(part["text"] for part in content if part.get("type") == "text")


def openai_error(status: int, message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


CONTEXT_TOO_LONG = openai_error(
    400,
    "This model's maximum context length is 128000 tokens. However, your messages resulted in "
    "130000 tokens. Please reduce the length of the messages.",
    "invalid_request_error",
    "context_length_exceeded",
)


# Groq's x_groq.usage also carries timings in seconds (fractions, which the client ignores)
GROQ_TIMINGS = {"queue_time": 0.0171, "prompt_time": 0.0032, "completion_time": 0.2, "total_time": 0.2032}


def listed_model(
    model_id: str,
    prompt: str,
    completion: str,
    *,
    context_length: int = 128_000,
    max_completion_tokens: int | None = 16_384,
    input_modalities: tuple[str, ...] = ("text",),
    **pricing: str,
) -> dict[str, Any]:
    """One entry of OpenRouter's `GET /models` `data`, as it sends them (prices: dollars per token)."""
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": model_id.split("/")[-1].replace("-", " ").title(),
        "created": 1_760_000_000,
        "description": "A model served by the fake.",
        "context_length": context_length,
        "architecture": {
            "modality": "+".join(input_modalities) + "->text",
            "input_modalities": list(input_modalities),
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0", **pricing},
        "top_provider": {
            "context_length": context_length,
            "max_completion_tokens": max_completion_tokens,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "stop"],
    }


@dataclass
class Transcription:
    """What the fake's `POST .../audio/transcriptions` answers: the text and OpenAI's usage object (tokens
    by default; `{"type": "duration", "seconds": n}` as whisper-1 reports; None: no usage at all)."""

    text: str = "What is the weather like in Lima?"
    usage: dict[str, Any] | None = field(
        default_factory=lambda: {
            "type": "tokens",
            "input_tokens": 180,
            "input_token_details": {"text_tokens": 0, "audio_tokens": 180},
            "output_tokens": 12,
            "total_tokens": 192,
        }
    )
    status: int = 200


@dataclass
class ReceivedAudio:
    """One transcription request as the fake received it (multipart fields)."""

    path: str
    headers: dict[str, str]
    model: str
    filename: str
    content_type: str
    data: bytes


class FakeOpenAI(FakeModelServer[Script]):
    """`async with FakeOpenAI() as fake:` serves it; OPENAI_BASE_URL (or any compatible provider's) is
    `fake.url`."""

    def __init__(self) -> None:
        super().__init__(Script())
        self.model_list: list[dict[str, Any]] | None = None  # None: GET /models is a 404
        self.model_list_status = 200  # not 200: an OpenAI-style error body echoing the key it was sent
        self.model_list_delay = 0.0  # seconds before answering GET /models
        self.list_requests: list[dict[str, str]] = []  # the headers of each GET /models
        self.billed_images: list[Billed] = []  # every image part received, as billed (prompt tokens)
        self.transcription = Transcription()  # what every transcription answers
        self.audio: list[ReceivedAudio] = []  # every transcription request

    @property
    def url(self) -> str:
        """The base URL, with /v1 as OpenAI's own."""
        return f"{self.root}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}chat/completions", self._completions)
        app.router.add_get("/{tail:.*}models", self._models)
        app.router.add_post("/{tail:.*}audio/transcriptions", self._transcriptions)
        return app

    async def _transcriptions(self, request: web.Request) -> web.Response:
        """OpenAI's speech to text: multipart `file` and `model`; a JSON answer with `text` and `usage`."""
        fields: dict[str, Any] = {}
        async for part in await request.multipart():
            if isinstance(part, aiohttp.BodyPartReader) and part.name:
                fields[part.name] = (part, await part.read())
        if "file" not in fields or "model" not in fields:
            error = openai_error(400, "file and model are required", "invalid_request_error")
            return web.json_response(error, status=400)
        file_part, data = fields["file"]
        self.audio.append(
            ReceivedAudio(
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                fields["model"][1].decode(),
                file_part.filename or "",
                file_part.headers.get("Content-Type", ""),
                bytes(data),
            )
        )
        answer = self.transcription
        if answer.status != 200:
            error = openai_error(answer.status, "fake failure", "server_error")
            return web.json_response(error, status=answer.status)
        body: dict[str, Any] = {"text": answer.text}
        if answer.usage is not None:
            body["usage"] = answer.usage
        return web.json_response(body)

    def _bill_images(self, body: dict[str, Any]) -> list[Billed]:
        """The image parts of the request, billed by the rule of the model's maker (`compatible_image`;
        `NotAnImage` for a bad one, or one of a type that API doesn't take)."""
        billed = []
        for message in body.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else ():
                if part.get("type") == "image_url":
                    image = part["image_url"]
                    if not isinstance(image, dict):  # OpenAI's shape: an object with a url
                        raise NotAnImage("image_url must be an object with a url")
                    detail = image.get("detail", "auto")
                    billed.append(compatible_image(image["url"], detail, str(body["model"])))
        return billed

    async def _models(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.list_requests.append(headers)
        if self.model_list_delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), self.model_list_delay)
        if self.model_list is None:
            return web.json_response(openai_error(404, "Not found", "invalid_request_error"), status=404)
        if self.model_list_status != 200:
            echoed = f"Bad credentials: {headers.get('authorization', '')}"
            return web.json_response(
                openai_error(self.model_list_status, echoed, "server_error"), status=self.model_list_status
            )
        return web.json_response({"data": self.model_list})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        script = self.next_script()
        try:
            images = self._bill_images(body)
        except NotAnImage as bad:
            error = openai_error(400, f"Invalid image: {bad}", "invalid_request_error", "invalid_image")
            return web.json_response(error, status=400)
        self.billed_images.extend(images)
        if images:  # billed as prompt tokens, on top of the text's
            script = dataclasses.replace(
                script, prompt_tokens=script.prompt_tokens + sum(i.tokens for i in images)
            )
        if script.hold is not None:
            await script.hold.wait()
        if script.status != 200:
            return web.json_response(
                script.error_body or openai_error(script.status, "fake failure", "server_error"),
                status=script.status,
                headers=script.headers,
            )
        return await self._stream(request, body, script)

    async def _stream(self, request: web.Request, body: dict[str, Any], script: Script) -> web.StreamResponse:
        limit = int(body.get("max_completion_tokens") or body.get("max_tokens") or 1_000_000)
        text = _last_user_text(body) if script.echo else script.text
        words = [w + " " for w in text.split(" ")]
        if script.fill_to_limit:
            words = (words * (limit // max(len(words), 1) + 1))[:limit]
        completion = script.completion_tokens if script.completion_tokens is not None else len(words)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_760_000_000}
        base["model"] = str(body.get("model"))

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps({**base, **payload})}\n\n".encode())
            if script.delay:
                await asyncio.sleep(script.delay)

        groq = script.usage_in == "x_groq"
        if script.keepalive:
            await response.write(b": keep-alive\n\n")
        first: dict[str, Any] = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        if groq:
            first["x_groq"] = {"id": "req_01fakegroq"}  # Groq's first chunk: an id, no usage
        await send(first)
        for index, word in enumerate(words):
            if script.cut_after_words is not None and index == script.cut_after_words:
                if request.transport is not None:
                    request.transport.close()
                return response
            if script.error_chunk_after_words is not None and index == script.error_chunk_after_words:
                message = "The server had an error while processing your request."
                error = {"error": {"message": message, "type": "server_error", "code": 502}}
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
                await response.write_eof()
                return response
            if index == script.stall_after_words:
                self.stalled += 1
                while not self.release.is_set():  # until the fake stops, or the client hangs up
                    if request.transport is None or request.transport.is_closing():
                        self.disconnects += 1
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.release.wait(), 0.01)
                return response
            if index in (script.malformed_after_words, script.end_after_words):
                if index == script.malformed_after_words:
                    await response.write(b'data: {"id":"chatcmpl-fake","choices":[{"index":0,"delta":\n\n')
                await response.write_eof()
                return response
            await send({"choices": [{"index": 0, "delta": {"content": word}}]})
        finish: dict[str, Any] = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage: dict[str, Any] = {
            "prompt_tokens": script.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": script.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": script.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": script.reasoning_tokens},
        }
        if script.cost is not None:
            usage["cost"] = float(script.cost) if "." in script.cost else int(script.cost)
        if script.usage_body is not None:
            usage = script.usage_body
        if groq and script.usage:  # Groq sends it whether or not it was asked for
            finish["x_groq"] = {"id": "req_01fakegroq", "usage": {**GROQ_TIMINGS, **usage}}
        await send(finish)
        wants_usage = (body.get("stream_options") or {}).get("include_usage") or "stream_options" not in body
        if script.usage and wants_usage and not groq:
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
