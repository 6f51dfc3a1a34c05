"""The web port under abuse, on 127.0.0.1 only, bounded in count and time: half-sent requests, a
connection flood, a body nested too deep, a storm of accept errors. Through all of it /healthz, the owner
API and the bot keep answering, and the server closes what it must by itself.

Deadlines are passed small (`WebLimits`) so the tests wait about a second; every wait is bounded by an
`asyncio.timeout` that ends the test if the server never closes a socket (that is the failure shown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.web import bind_host, serve
from bot.web_limits import ACCEPT_ERRORS, RepeatThrottle, ThrottledLines, WebLimits, quiet_accept_errors
from tests.fakes.llm_fixtures import Fakes
from tests.harness import Harness, harness, meet
from tests.providers.wiring import env

TOKEN = "abuse-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOB = "telegram:2"
BOUND = 30  # seconds any single wait may take before the test gives up (the server failed to act)


@asynccontextmanager
async def served(tmp_path: Path, fakes: Fakes, limits: WebLimits) -> AsyncIterator[tuple[Harness, str]]:
    """The real core (answering from the fake model) and its web server with `limits`, on 127.0.0.1."""
    async with harness(tmp_path, admin_api_token=TOKEN, **env(fakes)) as h:
        await meet(h.ledger, BOB, "bob")
        async with serve(h.core, h.settings, port=0, limits=limits) as port:
            yield h, f"http://127.0.0.1:{port}"


async def still_answering(h: Harness, root: str) -> None:
    """/healthz, an authorised API call and a question to the bot all answer."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{root}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{root}/api/v1/users/{BOB}", headers=AUTH) as response:
            assert response.status == 200 and (await response.json())["user"] == BOB
    reply = await h.say("/ask hi", user=BOB)
    assert reply.answers and not reply.lines


async def connect(root: str, first_bytes: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = root.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(first_bytes)
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sent before closing (b"" for a reset)."""
    try:
        return await reader.read()
    except ConnectionError:
        return b""


HALF_HEAD = b"GET /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthoriz"


def half_body() -> bytes:
    head = (
        f"PUT /api/v1/users/{BOB}/limit HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    return head.encode() + b'{"limit": '


async def test_half_sent_requests_are_closed_and_the_api_and_the_bot_keep_answering(
    tmp_path: Path, fakes: Fakes
) -> None:
    limits = WebLimits(head_timeout=1, body_timeout=1, idle_timeout=1, max_connections=1000)
    async with served(tmp_path, fakes, limits) as (h, root):
        heads = [await connect(root, HALF_HEAD) for _ in range(200)]
        bodies = [await connect(root, half_body()) for _ in range(50)]
        await still_answering(h, root)  # with 250 requests hanging
        async with asyncio.timeout(BOUND):
            said = await asyncio.gather(*(closed_by_server(r) for r, _ in heads + bodies))
        assert all(text.startswith(b"HTTP/1.1 408 ") for text in said)  # each told why, then closed
        before = await h.ledger.account(BOB)
        await still_answering(h, root)
        assert (await h.ledger.account(BOB)).cap == before.cap  # the half-sent PUTs changed nothing
        for _, writer in heads + bodies:
            writer.close()


async def test_a_connection_flood_above_the_cap_is_dropped_while_real_requests_are_served(
    tmp_path: Path, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.web")
    limits = WebLimits(head_timeout=600, max_connections=50)  # only the cap can close these
    async with served(tmp_path, fakes, limits) as (h, root):
        flood = [await connect(root, HALF_HEAD) for _ in range(300)]
        await still_answering(h, root)
        closing = [asyncio.ensure_future(closed_by_server(r)) for r, _ in flood]
        # every socket beyond the cap is dropped by the server; the test stops waiting after BOUND
        done, pending = await asyncio.wait(closing, timeout=BOUND)
        assert len(done) >= 300 - 50, f"only {len(done)} of the flood were closed"
        assert all(task.result() == b"" for task in done)  # dropped at once: no answer, no waiting
        await still_answering(h, root)
        for task in pending:
            task.cancel()
        for _, writer in flood:
            writer.close()
    complaints = [r for r in caplog.records if "the most allowed" in r.getMessage()]
    assert len(complaints) == 1, [r.getMessage() for r in complaints]  # one line, not one per socket


async def test_a_json_body_nested_too_deep_is_a_400_and_changes_nothing(tmp_path: Path, fakes: Fakes) -> None:
    async with served(tmp_path, fakes, WebLimits()) as (h, root), aiohttp.ClientSession() as session:
        before = await h.ledger.account(BOB)
        for body in ("[" * 100_000, '{"limit": ' * 50_000):
            url = f"{root}/api/v1/users/{BOB}/limit"
            async with session.put(url, data=body, headers=AUTH) as response:
                assert response.status == 400
                assert (await response.json())["error"]["code"] == "malformed_json"
        assert (await h.ledger.account(BOB)).cap == before.cap
        await still_answering(h, root)


def test_a_storm_of_accept_errors_is_one_line_a_minute_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    throttled = ThrottledLines(ACCEPT_ERRORS.prefixes, RepeatThrottle(60, clock=lambda: now[0]))
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.removeFilter(ACCEPT_ERRORS)  # the process-wide one (with the real clock) stands aside
    asyncio_log.addFilter(throttled)
    loop = asyncio.new_event_loop()
    try:
        # what asyncio's selector loop reports each time accept() fails with EMFILE
        context: dict[str, Any] = {
            "message": "socket.accept() out of system resource",
            "exception": OSError(24, "Too many open files"),
        }
        for _ in range(500):
            loop.call_exception_handler(context)
        now[0] = 61
        loop.call_exception_handler(context)
        loop.call_exception_handler({"message": "something else entirely"})
    finally:
        loop.close()
        asyncio_log.removeFilter(throttled)
    lines = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert len(lines) == 3, lines
    assert "499 more like this in the last 60 s not logged" in lines[1]
    assert lines[2].startswith("something else entirely")
    quiet_accept_errors()
    assert ACCEPT_ERRORS in asyncio_log.filters


def test_the_port_listens_on_localhost_unless_a_webhook_or_host_needs_more(tmp_path: Path) -> None:
    db = {"database_url": f"sqlite:///{tmp_path}/x.db", "_env_file": None}
    assert bind_host(load_settings(**db))[0] == "127.0.0.1"
    webhook = load_settings(**db, telegram_webhook_url="https://bot.example.org/hook")
    host, why = bind_host(webhook)
    assert host == "0.0.0.0" and "TELEGRAM_WEBHOOK_URL" in why
    assert bind_host(load_settings(**db, telegram_webhook_url="https://x.org", host="10.0.0.5")) == (
        "10.0.0.5",
        "HOST is set",
    )
    assert bind_host(load_settings(**db, host="[::1]"))[0] == "::1"
    with pytest.raises(ConfigError, match=r"^HOST: must be an address or a host name"):
        load_settings(**db, host="http://0.0.0.0:8080")


async def test_serve_says_where_it_listens_and_why(
    tmp_path: Path, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web")
    async with served(tmp_path, fakes, WebLimits()) as (h, root):
        await still_answering(h, root)
    assert any(
        "web server on 127.0.0.1 port" in r.getMessage() and "set HOST" in r.getMessage()
        for r in caplog.records
    )
