"""The SSE reader (`bot.providers.http.stream_events`) against raw bytes from a tiny aiohttp server.

Each case writes exact bytes, in pieces that split lines and events at awkward places, and checks the
events that come out: CRLF and LF line ends, multi-line data, comments, event names, fields we ignore,
a last event without its blank line, and how HTTP failures become `ProviderError`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.providers import http
from bot.providers.base import ProviderError
from bot.providers.http import Endpoint, SSEEvent, stream_events
from tests.fakes.server import FakeServer


class RawServer(FakeServer):
    """Answers each POST with the next scripted list of byte pieces (written one by one)."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.status = 200
        self.headers: dict[str, str] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/sse", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=self.status, headers=self.headers)
        response.content_type = "text/event-stream" if self.status == 200 else "application/json"
        await response.prepare(request)
        for piece in self.pieces:
            await response.write(piece)
        await response.write_eof()
        return response


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawServer, str, aiohttp.ClientSession]]:
    async with RawServer() as server, aiohttp.ClientSession() as session:
        yield server, server.root + "/sse", session


async def read(raw: tuple[RawServer, str, aiohttp.ClientSession], *pieces: bytes) -> list[SSEEvent]:
    server, url, session = raw
    server.pieces = list(pieces)
    endpoint = Endpoint(
        "fake", session, {"Authorization": "Bearer sk-sse-secret-0123456789"}, "sk-sse-secret-0123456789"
    )
    return [event async for event in stream_events(endpoint, url, {"stream": True})]


Raw = tuple[RawServer, str, aiohttp.ClientSession]


async def test_lf_and_crlf_framing_give_the_same_events(raw: Raw) -> None:
    lf = await read(raw, b"data: one\n\ndata: two\n\n")
    crlf = await read(raw, b"data: one\r\n\r\ndata: two\r\n\r\n")
    assert lf == crlf == [SSEEvent("message", "one"), SSEEvent("message", "two")]


async def test_lines_split_across_writes_are_joined(raw: Raw) -> None:
    events = await read(
        raw, b"da", b'ta: {"a":', b" 1}\r", b"\n", b"\r\n", b"data: \xc3", b"\xa9t\xc3\xa9\n\n"
    )
    assert events == [SSEEvent("message", '{"a": 1}'), SSEEvent("message", "été")]


async def test_multi_line_data_is_joined_with_newlines(raw: Raw) -> None:
    events = await read(raw, b"data: first\ndata: second\ndata:third\ndata\n\n")
    assert events == [SSEEvent("message", "first\nsecond\nthird\n")]


async def test_comment_lines_are_ignored_wherever_they_are(raw: Raw) -> None:
    events = await read(
        raw,
        b": keep-alive\n\n",
        b": OPENROUTER PROCESSING\n\n",
        b"data: a\n: a comment inside an event\ndata: b\n\n",
        b":\n\n",
    )
    assert events == [SSEEvent("message", "a\nb")]


async def test_event_names_are_kept_and_reset_after_each_event(raw: Raw) -> None:
    events = await read(
        raw,
        b"event: message_start\ndata: {}\n\n",
        b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n',
        b"data: unnamed\n\n",
        b"event: ignored without data\n\n",
        b"data: still unnamed\n\n",
    )
    assert events == [
        SSEEvent("message_start", "{}"),
        SSEEvent("ping", '{"type": "ping"}'),
        SSEEvent("message", "unnamed"),
        SSEEvent("message", "still unnamed"),
    ]


async def test_fields_we_do_not_use_are_ignored_and_one_space_is_stripped(raw: Raw) -> None:
    events = await read(raw, b"id: 7\nretry: 1000\nunknown: x\ndata:  two spaces\n\n")
    assert events == [SSEEvent("message", " two spaces")]


async def test_blank_lines_alone_make_no_events(raw: Raw) -> None:
    assert await read(raw, b"\n\n\r\n\n") == []


async def test_the_last_event_without_its_blank_line_is_still_delivered(raw: Raw) -> None:
    assert await read(raw, b"data: one\n\ndata: [DONE]") == [
        SSEEvent("message", "one"),
        SSEEvent("message", "[DONE]"),
    ]
    assert await read(raw, b"event: message_stop\ndata: {}\n") == [SSEEvent("message_stop", "{}")]


async def test_a_long_data_line_is_read_whole(raw: Raw) -> None:
    payload = "x" * 3_000_000  # far longer than aiohttp's own line limit (512 KiB)
    events = await read(raw, b"data: ", payload.encode()[:150_000], payload.encode()[150_000:], b"\n\n")
    assert events == [SSEEvent("message", payload)]


async def test_a_line_beyond_the_limit_is_a_malformed_stream(
    raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "MAX_LINE_BYTES", 1000)
    assert await read(raw, b"data: " + b"y" * 990 + b"\n\n") == [SSEEvent("message", "y" * 990)]
    with pytest.raises(ProviderError) as caught:
        await read(raw, b"data: ok\n\n", b"data: " + b"y" * 600, b"y" * 600 + b"\n\n")
    assert caught.value.kind == "malformed"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (
            401,
            b'{"error": {"message": "Incorrect API key provided: sk-sse-secret-0123456789"}}',
            {},
            "auth",
            None,
        ),
        (429, b'{"error": {"message": "Rate limit reached"}}', {"Retry-After": "7"}, "rate_limited", 7.0),
        (429, b"{}", {"retry-after-ms": "1500", "Retry-After": "2"}, "rate_limited", 1.5),
        (500, b"<html>Internal Server Error</html>", {}, "overloaded", None),
        (
            529,
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            {},
            "overloaded",
            None,
        ),
        (
            400,
            b'{"error": {"message": "prompt is too long: 300000 tokens > 200000 maximum"}}',
            {},
            "context_too_long",
            None,
        ),
        (404, b'{"error": {"message": "model not found"}}', {}, "bad_request", None),
    ],
)
async def test_http_failures_become_provider_errors_without_the_key(
    raw: Raw, status: int, body: bytes, headers: dict[str, str], kind: str, retry_after: float | None
) -> None:
    server = raw[0]
    server.status, server.headers = status, headers
    with pytest.raises(ProviderError) as caught:
        await read(raw, body)
    error = caught.value
    assert (error.kind, error.status, error.retry_after) == (kind, status, retry_after)
    assert "sk-sse-secret" not in str(error) and "0123456789" not in str(error)


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        # OpenAI mid-stream: a type, no numeric code
        ({"message": "The server had an error", "type": "server_error", "code": None}, "overloaded", 500),
        (
            {"type": "overloaded_error", "message": "Overloaded"},
            "overloaded",
            529,
        ),  # Anthropic `event: error`
        (
            {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"},
            "rate_limited",
            429,
        ),  # Gemini
        ({"code": "context_length_exceeded", "message": "too long"}, "context_too_long", 400),
        ({"type": "authentication_error", "message": "invalid x-api-key"}, "auth", 401),
        # a complaint about a parameter is not a rejected key, even though it says "Invalid ... token"
        ({"code": 400, "message": "Invalid 'max_tokens': integer below minimum"}, "bad_request", 400),
        ("something broke", "bad_request", None),  # not even an object: shown, not retried
    ],
)
def test_an_error_inside_a_200_stream_is_classified_by_its_type_or_code(
    error: object, kind: str, status: int | None
) -> None:
    endpoint = Endpoint("fake", None, {}, "sk-sse-secret")  # type: ignore[arg-type]
    found = http.stream_error(endpoint, error)
    assert (found.kind, found.status) == (kind, status)


def test_fractions_in_events_are_decimals_never_floats() -> None:
    from decimal import Decimal

    data = http.parse_json(Endpoint("fake", None, {}), '{"usage": {"cost": 0.000123}}')  # type: ignore[arg-type]
    assert data["usage"]["cost"] == Decimal("0.000123")
