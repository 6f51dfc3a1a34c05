"""The console demo's model: a tiny local server speaking the OpenAI-compatible streaming format.

`python -m bot console --demo` must run from a fresh clone with no key. Rather than a special code path,
it starts this server on 127.0.0.1 and registers it as an ordinary OpenAI-compatible provider, so the demo
exercises the real path: HTTP, SSE, usage, pricing and the ledger. It is clearly labelled as a demo.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from bot.i18n import SOURCE, Language, _, ngettext, speaking
from bot.providers.catalog import ProviderSpec
from bot.web_limits import listening

DEMO_MODEL = "demo/capbot-demo"


def _words(question: str, language: Language, images: int = 0) -> list[str]:
    shown = question if len(question) <= 80 else question[:77] + "..."
    with speaking(language):  # the console's language: a real model would answer in the question's
        seen = (
            ngettext(
                "You sent {count} image (a demo can't look at it) and asked",
                "You sent {count} images (a demo can't look at them) and asked",
                images,
            ).format(count=images)
            if images
            else _("You asked")
        )
        text = _(
            '[demo model, no LLM behind it] {seen}: "{question}". '
            "In a real deployment this answer would come from the provider you pick with /model, "
            "streamed as it is written, and you would pay exactly the tokens it used. "
            "Send /spend to see this answer's cost come off your allowance."
        ).format(seen=seen, question=shown)
    return [w + " " for w in text.split(" ")]


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    body: dict[str, Any] = await request.json()
    messages = body.get("messages", [])
    content = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
    question = " ".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
    images = sum(1 for p in parts if p.get("type") == "image_url")
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 1024)
    words = _words(question, request.app[LANGUAGE], images)[:limit]
    if request.app[FILL]:  # benchmarks: the most expensive answer the limit allows
        words = (words * (limit // len(words) + 1))[:limit]
    delay = request.app[DELAY]
    if request.app[LATENCY]:  # benchmarks: a provider's time to the first token
        await asyncio.sleep(request.app[LATENCY])
    prompt_tokens = sum(
        len(str(m.get("content", "")).encode()) // 4 + 4
        for m in messages
        if isinstance(m.get("content"), str)
    )
    prompt_tokens += len(question.encode()) // 4 + IMAGE_TOKENS * images
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    base = {"id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = "capbot-demo"

    async def send(payload: dict[str, Any]) -> None:
        await response.write(f"data: {json.dumps({**base, **payload})}\n\n".encode())

    await send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for word in words:
        if delay:
            await asyncio.sleep(delay)
        await send({"choices": [{"index": 0, "delta": {"content": word}}]})
    await send({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words)}
    usage["total_tokens"] = prompt_tokens + len(words)
    await send({"choices": [], "usage": usage})
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


# What the demo bills an image: the flat count its vision.toml row says ("demo/*").
IMAGE_TOKENS = 85


async def _transcriptions(request: web.Request) -> web.Response:
    """A labelled stand-in for speech to text: it says how much audio came, billed like a real one."""
    form = await request.post()
    upload = form.get("file")
    size = len(upload.file.read()) if isinstance(upload, web.FileField) else 0
    with speaking(request.app[LANGUAGE]):
        text = _("[demo transcript, no speech recognition behind it] a recording of {size} KB").format(
            size=max(size // 1024, 1)
        )
    usage = {"type": "tokens", "input_tokens": size // 1000 + 1, "output_tokens": len(text.split())}
    usage["input_token_details"] = {"audio_tokens": usage["input_tokens"], "text_tokens": 0}
    return web.json_response({"text": text, "usage": usage})


FILL = web.AppKey("fill", bool)
DELAY = web.AppKey("delay", float)
LATENCY = web.AppKey("latency", float)
LANGUAGE: web.AppKey[Language] = web.AppKey("language")


@asynccontextmanager
async def demo_server(
    *,
    fill_to_limit: bool = False,
    word_delay: float = 0.02,
    latency: float = 0.0,
    language: Language = SOURCE,
) -> AsyncIterator[str]:
    """Serve the demo model on a free local port; yields its OpenAI-style base URL (with /v1).

    `fill_to_limit` makes every answer use the whole output limit (the worst case, for benchmarks);
    `latency` is waited before the first token, as a real provider's time to first token.
    `language` is the one its stand-in answer is written in.
    """
    app = web.Application()
    app[LANGUAGE] = language
    app[FILL] = fill_to_limit
    app[DELAY] = word_delay
    app[LATENCY] = latency
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/audio/transcriptions", _transcriptions)
    async with listening(app) as root:
        yield f"{root}/v1"


def demo_spec(base_url: str) -> ProviderSpec:
    """The demo server as an ordinary OpenAI-compatible provider row (priced in bot/prices.toml)."""
    return ProviderSpec(
        name="demo",
        title="Demo (a local stand-in, no LLM)",
        wire="openai",
        base_url=base_url,
        base_url_env="",
        models=("capbot-demo",),  # no key, and priced by the "demo/*" row of bot/prices.toml
    )
