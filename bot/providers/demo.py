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

from bot.i18n import SOURCE, Language, _, speaking
from bot.providers.catalog import ProviderSpec
from bot.web_limits import listening

DEMO_MODEL = "demo/capbot-demo"


def _words(question: str, language: Language) -> list[str]:
    shown = question if len(question) <= 80 else question[:77] + "..."
    with speaking(language):  # the console's language: a real model would answer in the question's
        text = _(
            '[demo model, no LLM behind it] You asked: "{question}". '
            "In a real deployment this answer would come from the provider you pick with /model, "
            "streamed as it is written, and you would pay exactly the tokens it used. "
            "Send /spend to see this answer's cost come off your allowance."
        ).format(question=shown)
    return [w + " " for w in text.split(" ")]


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    body: dict[str, Any] = await request.json()
    messages = body.get("messages", [])
    question = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 1024)
    words = _words(question, request.app[LANGUAGE])[:limit]
    if request.app[FILL]:  # benchmarks: the most expensive answer the limit allows
        words = (words * (limit // len(words) + 1))[:limit]
    delay = request.app[DELAY]
    prompt_tokens = sum(len(str(m.get("content", "")).encode()) // 4 + 4 for m in messages)
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


FILL = web.AppKey("fill", bool)
DELAY = web.AppKey("delay", float)
LANGUAGE: web.AppKey[Language] = web.AppKey("language")


@asynccontextmanager
async def demo_server(
    *, fill_to_limit: bool = False, word_delay: float = 0.02, language: Language = SOURCE
) -> AsyncIterator[str]:
    """Serve the demo model on a free local port; yields its OpenAI-style base URL (with /v1).

    `fill_to_limit` makes every answer use the whole output limit (the worst case, for benchmarks);
    `language` is the one its stand-in answer is written in.
    """
    app = web.Application()
    app[LANGUAGE] = language
    app[FILL] = fill_to_limit
    app[DELAY] = word_delay
    app.router.add_post("/v1/chat/completions", _chat_completions)
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
