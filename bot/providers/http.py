"""HTTP for every wire format: one shared session, SSE reading, and mapping failures to `ProviderError`.

The wire-format modules only build request bodies and read events; everything about status codes,
Retry-After, timeouts and broken connections lives here so each provider fails the same way. Error text
is built from the provider's own message with the key scrubbed out: some APIs echo part of a bad key.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.config import Settings
from bot.providers.base import ErrorKind, ProviderError
from bot.redact import MASK, Redactor

CONNECT_TIMEOUT = 10.0
# Phrases providers use when the prompt does not fit the model (OpenAI, Anthropic, Gemini, Mistral, ...).
_CONTEXT_HINTS = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"input token count|exceeds the maximum|reduce the length|context_too_long|input is too long|"
    r"exceed context limit",  # Anthropic: "input length and `max_tokens` exceed context limit: a + b > c"
    re.IGNORECASE,
)
# A rejected key that does not come as 401/403: Gemini answers a bad or expired key with 400. Whole words
# only, so a complaint about a parameter ("Invalid 'max_tokens'") is not mistaken for a rejected key.
_AUTH_HINTS = re.compile(
    r"invalid.{0,20}\b(api.?key|token)\b|\bapi.?key.{0,12}(not valid|invalid|expired)|authenticat",
    re.IGNORECASE,
)
# The error `type`/`code` strings of OpenAI, Anthropic and Gemini bodies, as the status they stand for: an
# error inside a 200 stream has no status of its own (OpenAI's says `"type": "server_error", "code": null`).
_STATUS_OF_TYPE = {
    "server_error": 500,
    "api_error": 500,
    "internal": 500,
    "overloaded_error": 529,
    "unavailable": 503,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "resource_exhausted": 429,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "unauthenticated": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "context_length_exceeded": 400,
}
_MAX_DETAIL = 300
_RETRY_DELAY = re.compile(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"')
# The longest SSE line we accept. (aiohttp's readline has its own smaller limit, and raises an error that is
# no ClientError beyond it, so lines are split here.)
MAX_LINE_BYTES = 16 * 1024 * 1024


def create_session(settings: Settings) -> aiohttp.ClientSession:
    """The one session all providers share: bounded connect time, and a bound on silence mid-stream."""
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_read=settings.request_timeout)
    return aiohttp.ClientSession(timeout=timeout, raise_for_status=False)


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event, before any JSON parsing (a `[DONE]` data line is not JSON)."""

    event: str  # "message" unless the server named it (Anthropic does)
    data: str


@dataclass(frozen=True)
class Endpoint:
    """Where and how to call one provider. `secret` is only used to scrub it from error text."""

    provider: str
    session: aiohttp.ClientSession
    headers: Mapping[str, str]
    secret: str | None = None


async def stream_events(endpoint: Endpoint, url: str, body: Mapping[str, Any]) -> AsyncIterator[SSEEvent]:
    """POST `body` and yield the server-sent events of a 200 response; raise `ProviderError` otherwise."""
    try:
        async with endpoint.session.post(url, json=body, headers=dict(endpoint.headers)) as response:
            if response.status != 200:
                raise await error_from_response(endpoint, response)
            async for event in _read_sse(response.content, endpoint.provider):
                yield event
    except ProviderError:
        raise
    except (TimeoutError, aiohttp.ServerTimeoutError):
        raise ProviderError("timeout", "no response in time", provider=endpoint.provider) from None
    except aiohttp.ClientPayloadError:
        raise ProviderError("malformed", "the stream was cut short", provider=endpoint.provider) from None
    except aiohttp.ClientConnectionError as exc:
        kind: ErrorKind = "malformed" if isinstance(exc, aiohttp.ServerDisconnectedError) else "unavailable"
        raise ProviderError(kind, type(exc).__name__, provider=endpoint.provider) from None
    except aiohttp.ClientResponseError:  # not HTTP at all (a broken proxy, the wrong port)
        not_http = "the answer was not valid HTTP"
        raise ProviderError("malformed", not_http, provider=endpoint.provider) from None
    except aiohttp.ClientError as exc:  # anything else aiohttp raises: a bad URL, too many redirects...
        raise ProviderError("unavailable", type(exc).__name__, provider=endpoint.provider) from None


async def _read_sse(content: aiohttp.StreamReader, provider: str) -> AsyncIterator[SSEEvent]:
    """The SSE framing of the HTML spec: `field: value` lines, a blank line ends an event, `:` comments.

    The body is split at LF here too (a CR before it is dropped; a last unterminated line counts): one
    generator per stream rather than two, since every event of every answer passes through it."""
    event, data = "message", list[str]()
    pending = bytearray()
    done = False
    while not done:
        chunk = await content.readany()
        if chunk:
            scan = len(pending)  # the bytes before this chunk hold no LF
            pending += chunk
        else:  # the end of the body: a last line without its LF still counts
            done = True
            if not pending:
                break
            pending += b"\n"
            scan = len(pending) - 1
        start = 0
        while (end := pending.find(b"\n", scan)) >= 0:
            if end - start > MAX_LINE_BYTES:
                break
            line = pending[start:end].decode("utf-8", errors="replace").rstrip("\r")
            start = scan = end + 1
            if not line:
                if data:
                    yield SSEEvent(event, "\n".join(data))
                event, data = "message", list[str]()
                continue
            if line.startswith(":"):  # a comment such as ": keep-alive" or ": OPENROUTER PROCESSING"
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
        del pending[:start]
        if len(pending) > MAX_LINE_BYTES:
            raise ProviderError("malformed", "a stream line was too long", provider=provider)
    if data:  # a last event without its blank line
        yield SSEEvent(event, "\n".join(data))


# one decoder for every event: `json.loads` with an option builds a new JSONDecoder per call
_DECIMAL_JSON = json.JSONDecoder(parse_float=Decimal)


def parse_json(endpoint: Endpoint, data: str) -> dict[str, Any]:
    """One event's JSON object. Fractions become `Decimal`, never float: some are dollars (OpenRouter)."""
    try:
        parsed = _DECIMAL_JSON.decode(data)
    except json.JSONDecodeError:
        raise ProviderError("malformed", "a stream event was not JSON", provider=endpoint.provider) from None
    if not isinstance(parsed, dict):
        raise ProviderError("malformed", "a stream event was not an object", provider=endpoint.provider)
    return parsed


async def error_from_response(endpoint: Endpoint, response: aiohttp.ClientResponse) -> ProviderError:
    """A non-200 answer as a `ProviderError`, with how long the provider asked us to wait, if it said."""
    try:
        text = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError):
        text = ""
    wait = retry_after(response.headers)
    if wait is None and (found := _RETRY_DELAY.search(text)):  # Gemini: RetryInfo in the body
        wait = float(found.group(1))
    return classify(endpoint, response.status, message_from_body(text), retry_after=wait)


def classify(
    endpoint: Endpoint, status: int | None, message: str, *, retry_after: float | None = None
) -> ProviderError:
    """An HTTP status (or an error inside a 200 stream, status None) and message → the error's kind."""
    message = scrub(message, endpoint.secret)
    kind: ErrorKind
    if _CONTEXT_HINTS.search(message) and status in (None, 400, 413, 422):
        kind = "context_too_long"
    elif status in (401, 403) or _AUTH_HINTS.search(message):
        kind = "auth"
    elif status == 429 or re.search(r"rate.?limit|quota|resource.?exhausted", message, re.I):
        kind = "rate_limited"
    elif (status is not None and status >= 500) or re.search(r"overloaded|unavailable", message, re.I):
        kind = "overloaded"
    else:
        kind = "bad_request"
    detail = f"HTTP {status}: {message}" if status is not None else f"error in stream: {message}"
    return ProviderError(kind, detail, provider=endpoint.provider, status=status, retry_after=retry_after)


def stream_error(endpoint: Endpoint, error: Any) -> ProviderError:
    """An error object sent inside a 200 stream (`{"error": {...}}`, Anthropic's `event: error`)."""
    if not isinstance(error, dict):
        return classify(endpoint, None, str(error))
    status: int | None = None
    for field in ("code", "status", "type"):
        value = error.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value < 600:
            status = value
        elif isinstance(value, str):
            status = int(value) if value.isdigit() else _STATUS_OF_TYPE.get(value.lower())
        if status is not None:
            break
    message = str(error.get("message") or "error")
    labels = [
        str(error[f]) for f in ("type", "code") if isinstance(error.get(f), str) and error[f] not in message
    ]
    # the label is part of what classify reads: `context_length_exceeded` says more than its message
    return classify(endpoint, status, f"{message} ({', '.join(labels)})" if labels else message)


def message_from_body(text: str) -> str:
    """The human part of an error body: OpenAI/Anthropic/Gemini all put it in error.message."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:_MAX_DETAIL] or "no details"
    if isinstance(body, list) and body:  # Gemini sometimes wraps the error in a list
        body = body[0]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("type") or error.get("code")
            if message:
                return str(message)[:_MAX_DETAIL]
        elif isinstance(error, str):
            return error[:_MAX_DETAIL]
    return text.strip()[:_MAX_DETAIL] or "no details"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, `Retry-After` (seconds or an HTTP date), if any."""
    if ms := headers.get("retry-after-ms"):
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def scrub(text: str, secret: str | None) -> str:
    """Remove the key, and any long fragment of it an API echoes back, from text we may show or log."""
    if not secret:
        return text
    text = Redactor([secret]).redact(text)  # the key, or any run of 8 or more of its characters
    if len(secret) >= 12:  # "Incorrect API key provided: sk-abc***wxyz" shows a prefix and a suffix
        text = text.replace(secret[-6:], MASK)
    return text
