"""The OpenAI-compatible gateway: `POST /chat/completions` and `GET /models`, mounted under /v1.

A request is a person's /ask by another door: the same access stage (`Core.outside_chat`: blocked,
allowlist, rate limit, answers in flight), the same money path (`bot.answering`: reserve the worst case,
clamp the output limit, settle the usage, or the bound of what was sent when the client leaves mid-answer),
the same refusals worded by `bot.wording`, here in OpenAI's error shape with the status its SDKs map to
exceptions. Stateless: the conversation is whatever the client sends.

Images come inline (base64 `data:` URLs in user messages, earlier turns included) and go the way of a chat
photo: checked by `bot.media.attachments` (MAX_IMAGES per request, MAX_MEDIA_MB each, real JPEG/PNG/WebP/
GIF), refused for a model that can't see, priced into the hold and sent at the largest size the allowance
pays (`bot.answering`). The body, which may be megabytes of them, is read only once the key is known.

Who is asking comes from `Authorization: Bearer <key>` through the injected `Authenticate` (the ledger's
per-person keys in production), so this module stores no key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from bot.answering import Answered, PromptImage, answer
from bot.commands.model import priced_model, provider_models
from bot.config import Settings
from bot.gateway.translate import (
    Answer,
    Completion,
    ImageInput,
    error_json,
    model_json,
    parse_completion,
    usage_json,
)
from bot.ledger import Blocked, CapReached
from bot.media.attachments import MB, check_attachments
from bot.media.image_tokens import Family
from bot.media.vision import family_for
from bot.providers.base import ProviderError
from bot.refusals import (
    BadArguments,
    BadAttachment,
    BadKey,
    CannotSee,
    CapReachedWithHistory,
    ModelUnavailable,
    NotAllowed,
    PromptTooLarge,
    RateLimited,
    Refusal,
    TooManyImages,
    UnknownModelChoice,
)
from bot.web_limits import DEFAULT_LIMITS, READS_OWN_BODY, WebLimits, disconnected, read_body
from bot.wording import UNEXPECTED, refusal

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)
T = TypeVar("T")

# A person's key → their identity (`platform:id`), or None for a missing, wrong or revoked key.
Authenticate = Callable[[str], Awaitable[str | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Provider failures the client caused (its parameters, its context) or may retry soon; the rest are 502.
CLIENT_FAILURES = frozenset({"bad_request", "context_too_long"})
PASSING_FAILURES = frozenset({"rate_limited", "overloaded", "unavailable", "timeout"})
# A request body's text (messages, history, fields), on top of its images: aiohttp's default body limit.
TEXT_BYTES = 1024 * 1024
# A body larger than this is parsed (JSON, base64) off the event loop, so other answers keep streaming.
PARSED_INLINE_BYTES = 256 * 1024


def body_limit(settings: Settings) -> int:
    """The largest request body taken: MAX_IMAGES images of MAX_MEDIA_MB each, base64 (4 bytes for 3),
    and the text; anything larger could only be refused after it was read."""
    images = settings.max_images * settings.max_media_mb * MB * 4 / 3
    return TEXT_BYTES + math.ceil(images)


@dataclass(frozen=True)
class Gateway:
    """What the routes share: the core (services, access stage, drain), how keys are checked, and how
    long and how large a request body may be."""

    core: Core
    authenticate: Authenticate
    limits: WebLimits = DEFAULT_LIMITS
    body_limit: int = TEXT_BYTES


class BodyRefused(Exception):
    """A request body that took too long or is too large: (status, message, OpenAI error code)."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


GATEWAY = web.AppKey("gateway", Gateway)
TEXT_TAKEN = web.RequestKey(
    "text_taken", bool
)  # set on a request once its answer has text: from then on it is paid for


def status_of(exc: Refusal) -> tuple[int, str, str | None]:
    """(HTTP status, OpenAI error type, code) for a refusal: the status decides which exception an OpenAI
    SDK raises (401 AuthenticationError, 403 PermissionDeniedError, 429 RateLimitError, ...)."""
    match exc:
        case BadKey():
            return 401, "invalid_request_error", "invalid_api_key"
        case CapReached() | CapReachedWithHistory():
            return 402, "insufficient_quota", "insufficient_quota"
        case Blocked() | NotAllowed():
            return 403, "permission_error", "blocked" if isinstance(exc, Blocked) else "not_allowed"
        case RateLimited():
            return 429, "rate_limit_error", "rate_limit_exceeded"
        case UnknownModelChoice():
            return 400, "invalid_request_error", "model_not_found"
        case PromptTooLarge():
            return 400, "invalid_request_error", "context_length_exceeded"
        case BadArguments():
            return 400, "invalid_request_error", None
        case BadAttachment():
            return 400, "invalid_request_error", "invalid_image"
        case TooManyImages():
            return 400, "invalid_request_error", "too_many_images"
        case CannotSee():
            return 400, "invalid_request_error", "model_cannot_see_images"
        case ModelUnavailable(kind=kind) if kind in CLIENT_FAILURES:
            return 400, "invalid_request_error", kind
        case ModelUnavailable(kind=kind):
            return (503 if kind in PASSING_FAILURES else 502), "api_error", kind
    return 503, "api_error", "unavailable"  # the database busy, a stop under way


def refused(request: web.Request, exc: Refusal) -> tuple[int, dict[str, Any]]:
    """A refusal as (status, OpenAI's error JSON), worded by `bot.wording` like every other "no"."""
    status, kind, code = status_of(exc)
    message = refusal(exc, request.app[GATEWAY].core.services.clock())
    if isinstance(exc, ModelUnavailable) and request.get(TEXT_TAKEN):  # text was sent: that much is paid for
        message = f"{exc.model_id} failed mid-answer; you were charged what the answer may have used."
    if isinstance(exc, TooManyImages) and exc.limit:  # chat's line says "in one message"
        message = (
            f"Send at most {exc.limit} images in one request, those of earlier messages included. "
            "Nothing was charged."
        )
    return status, error_json(message, kind, code)


@web.middleware
async def openai_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure before an answer starts, in OpenAI's error shape (after, see `_Reply.fail`)."""
    try:
        return await handler(request)
    except Refusal as exc:
        status, body = refused(request, exc)
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_in_seconds)
        if isinstance(exc, BadKey):
            headers["WWW-Authenticate"] = 'Bearer realm="capbot"'
        return web.json_response(body, status=status, headers=headers)
    except BodyRefused as exc:
        response = web.json_response(
            error_json(exc.message, "invalid_request_error", exc.code), status=exc.status
        )
        if exc.status == 408:  # a body too slow to arrive is not waited for; a large one is read and
            response.force_close()  # dropped for `lingering_time`, so the client gets to read this answer
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else "http_error"
        return web.json_response(error_json(exc.reason, "invalid_request_error", code), status=exc.status)
    except Exception:
        log.exception("gateway: unexpected error on %s", request.path)
        return web.json_response(error_json(UNEXPECTED, "api_error", None), status=500)


async def _person(request: web.Request) -> str:
    """The identity the request's key belongs to, or `BadKey`."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    user = await request.app[GATEWAY].authenticate(key) if scheme.lower() == "bearer" and key else None
    if user is None:
        raise BadKey()
    return user


async def list_models(request: web.Request) -> web.Response:
    """GET /models: every usable `provider/model`, priced, as /model offers them in chat."""
    await _person(request)
    services = request.app[GATEWAY].core.services
    data = [
        model_json(model_id, spec.name, rates)
        for spec in services.providers.configured()
        for model_id, rates in provider_models(services, spec)
    ]
    return web.json_response({"object": "list", "data": data})


class _Reply:
    """Where the answer's text goes: collected for `stream: false`, else sent as SSE chunks, each written
    (and so flushed) as it arrives. The response starts with the first text, so a failure before it can
    still be an error status; a failure after it is an error chunk, as OpenAI sends them."""

    def __init__(self, request: web.Request, completion: Completion, shape: Answer) -> None:
        self.request, self.completion, self.shape = request, completion, shape
        self.text: list[str] = []
        self.response: web.StreamResponse | None = None

    async def write(self, text: str) -> None:
        self.request[TEXT_TAKEN] = True
        if not self.completion.stream:
            self.text.append(text)
            return
        await self._start()
        await self._send(self.shape.chunk({"content": text}))

    async def _start(self) -> None:
        if self.response is None:
            headers = {
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
            self.response = web.StreamResponse(headers=headers)
            await self.response.prepare(self.request)
            await self._send(self.shape.chunk({"role": "assistant", "content": ""}))

    async def _send(self, payload: dict[str, Any]) -> None:
        assert self.response is not None
        await self.response.write(f"data: {json.dumps(payload)}\n\n".encode())

    async def finish(self, answered: Answered) -> web.StreamResponse:
        """The end of a paid answer: its finish reason, its usage and what it cost."""
        usage = answered.usage
        # the output limit was reached (the client's, or the one the allowance could pay): "length"
        full = usage is not None and usage.output_tokens >= answered.max_output_tokens
        finish = "length" if full else "stop"
        usage_json_ = usage_json(usage, answered.charged)
        if not self.completion.stream:
            return web.json_response(self.shape.completion("".join(self.text), finish, usage_json_))
        await self._start()
        await self._send(self.shape.chunk({}, finish))
        if self.completion.include_usage:
            await self._send(self.shape.usage_chunk(usage_json_))
        assert self.response is not None
        await self.response.write(b"data: [DONE]\n\n")
        await self.response.write_eof()
        return self.response

    async def fail(self, exc: Refusal) -> web.StreamResponse:
        """A failure after the answer started (settled as far as it got): an error chunk, then the end."""
        await self._send(refused(self.request, exc)[1])
        assert self.response is not None
        await self.response.write_eof()
        return self.response


async def _until_gone(request: web.Request, work: Awaitable[T]) -> T:
    """`work`, cut (cancelled, so it settles what it sent) if the client goes away meanwhile: aiohttp alone
    would notice only at the next write, and a model that is slow to go on might never come to one."""
    task = asyncio.ensure_future(work)
    racing: set[asyncio.Future[Any]] = {task, disconnected(request)}
    await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
    return await task


async def _completion(request: web.Request) -> Completion:
    """The request's body, read (only now that its key is known) within the gateway's deadline and size
    limit, and parsed: off the event loop when it is large (megabytes of base64 images)."""
    gateway = request.app[GATEWAY]
    try:
        raw = await read_body(request, gateway.limits, gateway.body_limit)
    except TimeoutError:
        raise BodyRefused(408, "The request body did not arrive in time", "timeout") from None
    except web.HTTPRequestEntityTooLarge:
        settings = gateway.core.services.settings
        raise BodyRefused(
            413,
            f"The request is larger than the {gateway.body_limit / MB:.1f} MB this gateway takes (images: "
            f"at most MAX_IMAGES={settings.max_images} of MAX_MEDIA_MB={settings.max_media_mb:f} MB each, "
            "as base64; text: 1 MB)",
            "request_too_large",
        ) from None
    parse = functools.partial(parse_completion, raw)
    return await asyncio.to_thread(parse) if len(raw) > PARSED_INLINE_BYTES else parse()


async def _checked(
    settings: Settings, images: tuple[ImageInput, ...], family: Family | None
) -> tuple[PromptImage, ...]:
    """The request's images checked as a chat photo's are (`BadAttachment`, `TooManyImages`: nothing is
    charged), off the event loop, each decoded once at the size `family` (the model's) needs."""
    if not images:
        return ()
    attachments = tuple(image.attachment for image in images)
    check = functools.partial(check_attachments, settings, attachments, family)
    media = await asyncio.to_thread(check)
    return tuple(
        PromptImage(image.message, checked, image.low)
        for image, checked in zip(images, media.images, strict=True)
    )


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /chat/completions: a paid answer from the person's allowance, streamed or whole."""
    user = await _person(request)
    completion = await _completion(request)
    core = request.app[GATEWAY].core
    services = core.services
    model = priced_model(services, completion.model)
    limit = min(
        completion.max_output or services.settings.max_output_tokens, services.settings.max_output_tokens
    )
    created = int(services.clock().timestamp())
    reply = _Reply(request, completion, Answer(f"chatcmpl-{uuid.uuid4().hex}", created, model.resolved.id))

    async def work() -> Answered:
        family = family_for(model.resolved.id, services.pricer.openrouter)
        images = await _checked(services.settings, completion.images, family)
        try:
            answered = await answer(
                services,
                user,
                model,
                completion.messages,
                reply.write,
                max_output=limit,
                sampling=completion.sampling,
                images=images,
            )
        except ProviderError as error:
            log.warning("gateway: %s failed for %s: %s", model.resolved.id, user, error)
            raise ModelUnavailable(model.resolved.id, error.kind) from None
        if answered.shrunk:
            log.info("gateway: %s's images went to %s smaller, to fit the allowance", user, model.resolved.id)
        return answered

    try:
        answered = await _until_gone(request, core.outside_chat(user, work))
        return await reply.finish(answered)
    except Refusal as exc:
        if reply.response is None:
            raise
        with contextlib.suppress(ConnectionError):
            await reply.fail(exc)
        return reply.response
    except (ConnectionError, asyncio.CancelledError):
        this = asyncio.current_task()
        if this is not None and this.cancelling():
            raise
        # the client went away mid-answer: it was charged the bound of what was sent, nobody is left to tell
        log.info("gateway: %s left during an answer from %s", user, model.resolved.id)
        return reply.response or web.Response(status=499)


def build_gateway(
    core: Core, authenticate: Authenticate, limits: WebLimits = DEFAULT_LIMITS
) -> web.Application:
    """The gateway as an aiohttp application, meant for `app.add_subapp("/v1", ...)` (see `bot.web`);
    `limits.body_timeout` bounds the wait for a request's body, which it reads itself."""
    app = web.Application(middlewares=[openai_errors])
    app[GATEWAY] = Gateway(core, authenticate, limits, body_limit(core.services.settings))
    app[READS_OWN_BODY] = True
    app.router.add_post("/chat/completions", chat_completions)
    app.router.add_get("/models", list_models)
    return app
