"""Behind a reverse proxy: the client is who a trusted proxy says (`TRUSTED_PROXIES`), for the sign-in
back-off, the Secure cookie and the log lines, and nobody else can say it.

aiohttp's test client connects from 127.0.0.1, so with `TRUSTED_PROXIES=127.0.0.1` it plays the proxy and
its X-Forwarded-For names the clients; without, it plays a client that sends the header itself.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

import bot.web_proxies
from adapters.telegram_bot import SECRET_HEADER, webhook_route
from bot.dashboard.backoff import FREE_TRIES
from bot.dashboard.sessions import COOKIE
from bot.web import web_app
from bot.web_limits import RepeatThrottle
from bot.web_proxies import TrustedProxies
from tests.dashboard.site import TOKEN, Site, site
from tests.harness import harness

OWNER_AT = "198.51.100.2"
STRANGER_AT = "203.0.113.7"


def xff(value: str) -> dict[str, str]:
    return {"X-Forwarded-For": value}


async def sign_in(s: Site, token: str, headers: dict[str, str]) -> int:
    status, _ = await s.post("/dashboard/login", {"token": token}, headers=headers)
    return status


async def back_off(s: Site, headers: dict[str, str]) -> None:
    """Wrong tokens past the free tries: the sender of `headers` must now wait."""
    for _ in range(FREE_TRIES + 1):
        assert await sign_in(s, "wrong", headers) == 401
    assert await sign_in(s, TOKEN, headers) == 429


@pytest.fixture(autouse=True)
def fresh_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ignored-headers hint is logged once an hour per process; each test starts a fresh hour."""
    monkeypatch.setattr(bot.web_proxies, "IGNORED", RepeatThrottle(interval=3600.0))


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Site]:
    async with site(tmp_path, trusted_proxies="127.0.0.1") as found:
        yield found


async def test_clients_behind_a_trusted_proxy_back_off_apart(proxied: Site) -> None:
    await back_off(proxied, xff(STRANGER_AT))
    assert await sign_in(proxied, TOKEN, xff(OWNER_AT)) == 303  # the owner is not locked out
    assert (await proxied.get("/dashboard/people"))[0] == 200
    assert await sign_in(proxied, TOKEN, xff(STRANGER_AT)) == 429  # the stranger still waits
    assert await sign_in(proxied, TOKEN, {}) == 303  # and so does nobody else: not the proxy itself


async def test_a_spoof_prepended_behind_a_trusted_proxy_is_ignored(proxied: Site) -> None:
    """The proxy appends the address it saw; what the stranger wrote before it names nobody."""
    await back_off(proxied, xff(f"{OWNER_AT}, {STRANGER_AT}"))
    for spoof in ("192.0.2.1", "10.0.0.1", "127.0.0.1", "garbage", ""):  # no escape with a new spoof
        assert await sign_in(proxied, TOKEN, xff(f"{spoof}, {STRANGER_AT}")) == 429
    assert await sign_in(proxied, TOKEN, xff(OWNER_AT)) == 303  # the spoofed owner was never slowed


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8"], ids=["nobody", "another-network"])
async def test_an_untrusted_peer_cannot_name_another_client(tmp_path: Path, trusted: str) -> None:
    """Its X-Forwarded-For is ignored, so a new name per try escapes nothing, and names nobody."""
    async with site(tmp_path, trusted_proxies=trusted) as s:
        for n in range(FREE_TRIES + 1):
            assert await sign_in(s, "wrong", xff(f"192.0.2.{n}")) == 401
        assert await sign_in(s, TOKEN, xff("192.0.2.99")) == 429
        assert await sign_in(s, TOKEN, {}) == 429  # it was this peer all along


async def test_a_chain_of_trusted_networks(tmp_path: Path) -> None:
    """client → edge proxy in 10.0.0.0/8 → local proxy on 127.0.0.1 → capbot: the client is the
    right-most address outside the trusted networks, whichever edge proxy carried it."""
    async with site(tmp_path, trusted_proxies="127.0.0.0/8, 10.0.0.0/8") as s:
        await back_off(s, xff(f"{STRANGER_AT}, 10.1.2.3"))
        assert await sign_in(s, TOKEN, xff(f"{STRANGER_AT}, 10.200.0.9")) == 429
        assert await sign_in(s, TOKEN, xff(f"{STRANGER_AT},10.0.0.1, 10.1.2.3")) == 429
        assert await sign_in(s, TOKEN, xff(f"{OWNER_AT}, 10.1.2.3")) == 303


async def test_an_unreadable_header_counts_against_the_proxy(proxied: Site) -> None:
    """A trusted proxy that wrote something we can't read: the try counts against the proxy, not
    against anyone the header names, and a readable client is still told apart."""
    await back_off(proxied, xff(f"{OWNER_AT}, unknown"))
    assert await sign_in(proxied, TOKEN, {}) == 429  # the proxy's own address is the one slowed
    assert await sign_in(proxied, TOKEN, xff(OWNER_AT)) == 303


@pytest.mark.parametrize(
    ("trusted", "proto", "secure"),
    [
        ("127.0.0.1", "https", True),
        ("127.0.0.1", "HTTPS", True),
        ("127.0.0.1", "http", False),
        ("127.0.0.1", "https, http", False),  # the nearest trusted proxy's word is the right-most
        ("127.0.0.1", "http, https", True),
        ("", "https", False),  # an untrusted peer can't claim https
        ("10.0.0.0/8", "https", False),
    ],
)
async def test_the_secure_cookie_follows_the_same_trust(
    tmp_path: Path, trusted: str, proto: str, secure: bool
) -> None:
    async with site(tmp_path, trusted_proxies=trusted) as s:
        headers = {"X-Forwarded-Proto": proto, "X-Forwarded-For": OWNER_AT}
        async with s.client.post(
            "/dashboard/login", data={"token": TOKEN}, headers=headers, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert bool(response.cookies[COOKIE]["secure"]) is secure


async def test_ignored_headers_are_one_hint_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with site(tmp_path) as s:
        with caplog.at_level(logging.WARNING, logger="bot.web"):
            for _ in range(3):
                await sign_in(s, "wrong", xff(STRANGER_AT))
    hints = [m for m in caplog.messages if "not in TRUSTED_PROXIES" in m]
    assert hints == [
        "web: forwarded headers from 127.0.0.1 ignored: it is not in TRUSTED_PROXIES (if it is your "
        "reverse proxy, add its address there so clients are told apart)"
    ]


@pytest.mark.parametrize(("trusted", "named"), [("127.0.0.1", STRANGER_AT), ("", "127.0.0.1")])
async def test_the_webhook_logs_the_client(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, trusted: str, named: str
) -> None:
    """The Telegram webhook is one of the server's own routes: its log line names the client too."""
    route = webhook_route(cast(Any, None), "right-secret", "/telegram/webhook")  # refused before use
    async with harness(tmp_path, trusted_proxies=trusted) as h:
        app = web_app(h.core, h.settings, [route])
        async with TestClient(TestServer(app)) as client:
            with caplog.at_level(logging.WARNING, logger="adapters.telegram_bot"):
                headers = {SECRET_HEADER: "wrong", **xff(STRANGER_AT)}
                async with client.post("/telegram/webhook", json={}, headers=headers) as response:
                    assert response.status == 403
    assert f"telegram: webhook request without the right secret token from {named}" in caplog.messages


P = TrustedProxies((ip_network("127.0.0.1"), ip_network("10.0.0.0/8"), ip_network("fd00::/8")))


@pytest.mark.parametrize(
    ("peer", "lines", "client"),
    [
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["  203.0.113.7  "], "203.0.113.7"),
        ("127.0.0.1", ["1.1.1.1, 203.0.113.7, 10.0.0.5"], "203.0.113.7"),
        ("127.0.0.1", ["1.1.1.1", "203.0.113.7"], "203.0.113.7"),  # header lines join in order
        ("127.0.0.1", ["10.0.0.9, 10.0.0.5"], "10.0.0.9"),  # all trusted: began inside, the left-most
        ("127.0.0.1", ["2001:db8::1, fd00::2"], "2001:db8::1"),
        ("127.0.0.1", ["::ffff:203.0.113.7"], "203.0.113.7"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),  # a dual-stack socket's IPv4 peer
        ("fd00::1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7, "], "127.0.0.1"),  # an empty entry: unreadable, the peer
        ("127.0.0.1", ["203.0.113.7:4711"], "127.0.0.1"),  # a port: not an address
        ("127.0.0.1", ["junk, 203.0.113.7"], "203.0.113.7"),  # junk left of the client is never read
        ("203.0.113.9", ["198.51.100.2"], "203.0.113.9"),  # untrusted: the header is ignored
        ("::1", ["198.51.100.2"], "::1"),  # an IPv6 peer is not in an IPv4 network
        (None, ["198.51.100.2"], None),
    ],
)
def test_the_rule(peer: str | None, lines: list[str], client: str | None) -> None:
    assert P.client(peer, lines) == client


def test_nobody_is_trusted_by_default() -> None:
    assert TrustedProxies().client("127.0.0.1", ["203.0.113.7"]) == "127.0.0.1"
    assert TrustedProxies().scheme("127.0.0.1", ["https"]) is None
