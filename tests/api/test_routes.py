"""The provisioning API under /api/v1, mounted the way every bot process mounts it (`bot.web.web_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web import web_app
from tests.harness import CENT, DOLLAR, OWNER, Harness, charge, harness, meet, snapshot

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOB, CAROL = "telegram:2", "discord:3"


@dataclass
class Api:
    h: Harness
    client: TestClient[Any, Any]

    async def call(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> tuple[int, Any]:
        headers = {**(AUTH if auth else {}), **kw.pop("headers", {})}
        async with self.client.request(method, "/api/v1" + path, headers=headers, **kw) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with harness(tmp_path, admin_api_token=TOKEN) as h:
        await meet(h.ledger, OWNER, "boss")
        await meet(h.ledger, BOB, "bob")
        await meet(h.ledger, CAROL, "carol")
        await charge(h.ledger, BOB, 30 * CENT, "openai/gpt-4o", input_tokens=100, output_tokens=20)
        async with TestClient(TestServer(web_app(h.core, h.settings))) as client:
            yield Api(h, client)


ROUTES = [
    ("GET", "/openapi.json", None),
    ("GET", "/users", None),
    ("GET", "/users/telegram:2", None),
    ("PATCH", "/users/telegram:2", {"limit": "5"}),
    ("DELETE", "/users/telegram:2", None),
    ("PUT", "/users/telegram:2/limit", {"limit": "5", "period": "daily"}),
    ("POST", "/users/telegram:2/disable", None),
    ("POST", "/users/telegram:2/enable", None),
    ("POST", "/users/telegram:2/unlink", None),
    ("GET", "/users/telegram:2/keys", None),
    ("POST", "/users/telegram:2/keys", {"name": "laptop"}),
    ("DELETE", "/users/telegram:2/keys/{key}", None),  # any key: the token is checked first
    ("GET", "/usage", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_every_route_needs_the_token_and_changes_nothing_without_it(
    api: Api, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    await api.h.ledger.set_blocked(CAROL, True)
    before = await snapshot(api.h.db)
    status, data = await api.call(method, path, auth=False, headers=headers, json=body)
    assert status == 401
    assert data["error"]["code"] == "unauthorized"
    assert await snapshot(api.h.db) == before


async def test_the_api_is_off_without_a_token(tmp_path: Path) -> None:
    async with harness(tmp_path) as h, TestClient(TestServer(web_app(h.core, h.settings))) as client:
        async with client.get("/api/v1/users", headers=AUTH) as response:
            assert response.status == 404
        async with client.get("/healthz") as response:
            assert response.status == 200


async def test_list_and_get_users(api: Api) -> None:
    status, data = await api.call("GET", "/users")
    assert status == 200
    assert [u["user"] for u in data["users"]] == [BOB, CAROL, OWNER]
    bob = data["users"][0]
    assert bob == {
        "user": BOB,
        "identities": [BOB],
        "username": "bob",
        "period": "monthly",
        "usage": "0.3",
        "limit": "1",
        "limit_remaining": "0.7",
        "limit_reset": "2026-12-01T00:00:00Z",
        "held": "0",
        "disabled": False,
        "owner": False,
        "custom": False,
    }
    status, one = await api.call("GET", "/users/@bob")
    assert (status, one) == (200, bob)
    status, owner = await api.call("GET", "/users/telegram:1")
    assert owner["owner"] is True


async def test_put_limit_then_patch(api: Api) -> None:
    status, data = await api.call(
        "PUT", "/users/telegram:2/limit", json={"limit": "0.25", "period": "weekly"}
    )
    assert status == 200
    assert (data["limit"], data["period"], data["limit_remaining"], data["custom"]) == (
        "0.25",
        "weekly",
        "-0.05",
        True,
    )
    assert data["limit_reset"] == "2026-11-23T00:00:00Z"
    profile = await api.h.ledger.profile(BOB)
    assert (profile.cap, profile.period) == (25 * CENT, "weekly")

    # PATCH changes only what it names: a new limit keeps the period
    status, data = await api.call("PATCH", "/users/telegram:2", json={"limit": 3})
    assert (status, data["limit"], data["period"]) == (200, "3", "weekly")
    status, data = await api.call("PATCH", "/users/telegram:2", json={"period": "daily"})
    assert (status, data["limit"], data["period"]) == (200, "3", "daily")
    status, data = await api.call("PATCH", "/users/telegram:2", json={"limit": "unlimited", "disabled": True})
    assert (data["limit"], data["limit_remaining"], data["disabled"]) == (None, None, True)
    profile = await api.h.ledger.profile(BOB)
    assert (profile.unlimited, profile.period, profile.blocked) == (True, "daily", True)

    # PUT without a period goes back to the default one
    status, data = await api.call("PUT", "/users/telegram:2/limit", json={"limit": "default"})
    assert (data["limit"], data["period"]) == ("1", "monthly")


async def test_disable_enable_and_delete_settings(api: Api) -> None:
    status, data = await api.call("POST", "/users/discord:3/disable")
    assert (status, data["disabled"]) == (200, True)
    assert (await api.h.ledger.profile(CAROL)).blocked
    status, data = await api.call("POST", "/users/discord:3/enable")
    assert (status, data["disabled"]) == (200, False)

    await api.call("PUT", "/users/telegram:2/limit", json={"limit": "7", "period": "total"})
    await api.call("POST", "/users/telegram:2/disable")
    kept = {k: v for k, v in (await snapshot(api.h.db)).items() if k in ("charges", "totals", "links")}
    status, data = await api.call("DELETE", "/users/telegram:2")
    assert status == 200
    assert (data["limit"], data["period"], data["disabled"], data["custom"], data["usage"]) == (
        "1",
        "monthly",
        False,
        False,
        "0.3",
    )
    after = await snapshot(api.h.db)
    assert {k: after[k] for k in kept} == kept  # history and running totals are kept


async def test_owners_cannot_be_disabled(api: Api) -> None:
    before = await snapshot(api.h.db)
    for method, path, body in [
        ("POST", "/users/telegram:1/disable", None),
        ("PATCH", "/users/telegram:1", {"disabled": True, "limit": "2"}),
    ]:
        status, data = await api.call(method, path, json=body)
        assert (status, data["error"]["code"]) == (400, "owner")
    assert await snapshot(api.h.db) == before


async def test_usage_report(api: Api) -> None:
    await charge(
        api.h.ledger, CAROL, 2 * CENT, "openai/gpt-4o-mini", output_tokens=7, reasoning_tokens=3, absorbed=5
    )
    status, data = await api.call("GET", "/usage")
    assert status == 200
    assert (data["user"], data["period"], data["since"], data["total"], data["absorbed"]) == (
        None,
        "monthly",
        "2026-11-01T00:00:00Z",
        "0.32",
        "0.000000005",
    )
    assert [m["model"] for m in data["models"]] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert data["models"][1] == {
        "model": "openai/gpt-4o-mini",
        "requests": 1,
        "input_tokens": 0,
        "cached_tokens": 0,
        "output_tokens": 7,
        "reasoning_tokens": 3,
        "cost": "0.02",
        "absorbed": "0.000000005",  # reported beyond the hold: the owner's, not in the total charged
    }
    assert data["models"][0]["absorbed"] == "0"
    status, data = await api.call("GET", "/usage", params={"user": "@carol"})
    assert (data["user"], data["total"], len(data["models"])) == (CAROL, "0.02", 1)


BAD = [
    ("PUT", "/users/telegram:2/limit", {"data": b"{not json"}, 400, "malformed_json"),
    ("PATCH", "/users/telegram:2", {"data": b""}, 400, "malformed_json"),
    ("PATCH", "/users/telegram:2", {"data": b"\xff\xfe"}, 400, "malformed_json"),
    ("PUT", "/users/telegram:2/limit", {"json": {}}, 400, "invalid_body"),
    ("PUT", "/users/telegram:2/limit", {"json": []}, 400, "invalid_body"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "5", "extra": 1}}, 400, "invalid_body"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "5", "period": "hourly"}}, 400, "invalid_body"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "-1"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": -1}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "NaN"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"data": b'{"limit": NaN}'}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"data": b'{"limit": Infinity}'}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": 1e300}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "2000000"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "9" * 40}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"data": b'{"limit": ' + b"9" * 40 + b"}"}, 400, "bad_request"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "9" * 40}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "inf"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "Infinity"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "five"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": None}}, 400, "invalid_body"),
    ("PUT", "/users/telegram:2/limit", {"json": {"period": "daily"}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "-1"}}, 400, "bad_request"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "NaN"}}, 400, "bad_request"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "0.0000000001"}}, 400, "bad_request"),
    ("PATCH", "/users/telegram:2", {"json": {"period": "hourly"}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "5", "period": "yearly"}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"json": {"nickname": "x"}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"data": b"{not json"}, 400, "malformed_json"),
    ("PATCH", "/users/telegram:four", {"json": {"limit": "5"}}, 404, "unknown_user"),
    ("POST", "/users/@ghost/enable", {}, 404, "unknown_user"),
    ("GET", "/usage?user=telegram:2&user=discord:3", {}, 400, "bad_request"),
    ("GET", "/users?page=2", {}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": "0.0000000001"}}, 400, "bad_request"),
    ("PUT", "/users/telegram:2/limit", {"json": {"limit": True}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"json": {"disabled": "yes"}}, 400, "invalid_body"),
    ("PATCH", "/users/telegram:2", {"json": {"limit": "five", "disabled": True}}, 400, "bad_request"),
    ("PUT", "/users/@ghost/limit", {"json": {"limit": "5"}}, 404, "unknown_user"),
    ("GET", "/users/@nobody", {}, 404, "unknown_user"),
    ("POST", "/users/nobody/disable", {}, 404, "unknown_user"),
    ("DELETE", "/users/x:y", {}, 404, "unknown_user"),
    ("GET", "/usage?user=@ghost", {}, 404, "unknown_user"),
    ("GET", "/usage?user=", {}, 404, "unknown_user"),
    ("GET", "/nothing-here", {}, 404, "not_found"),
    ("POST", "/users", {}, 405, "http_error"),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"limit": 1e-10}', "more than nine decimals"),
        (b'{"limit": 1e20}', "more than the $1,000,000 limit"),
        (b'{"limit": 1e300}', "more than the $1,000,000 limit"),
        (b'{"limit": ' + b"9" * 40 + b"}", "more than the $1,000,000 limit"),
        (b'{"limit": -0.5}', "is not an amount of dollars"),
        (b'{"limit": NaN}', "is not an amount of dollars"),
        (b'{"limit": -Infinity}', "is not an amount of dollars"),
    ],
)
async def test_json_numbers_are_refused_for_what_is_wrong_with_them(
    api: Api, body: bytes, expected: str
) -> None:
    before = await snapshot(api.h.db)
    for method, path in (("PUT", "/users/telegram:2/limit"), ("PATCH", "/users/telegram:2")):
        status, data = await api.call(method, path, data=body)
        assert (status, data["error"]["code"]) == (400, "bad_request")
        assert expected in data["error"]["message"]
    assert await snapshot(api.h.db) == before


async def test_json_numbers_set_exact_limits(api: Api) -> None:
    status, data = await api.call("PUT", "/users/telegram:2/limit", data=b'{"limit": 0.1}')
    assert (status, data["limit"]) == (200, "0.1")
    assert (await api.h.ledger.profile(BOB)).cap == 10 * CENT  # not 0.1000000000000000055...
    status, data = await api.call("PATCH", "/users/telegram:2", data=b'{"limit": 2.5e0}')
    assert (status, data["limit"]) == (200, "2.5")


@pytest.mark.parametrize(("method", "path", "kw", "status", "code"), BAD)
async def test_bad_requests_get_a_json_error_and_change_nothing(
    api: Api, method: str, path: str, kw: dict[str, Any], status: int, code: str
) -> None:
    before = await snapshot(api.h.db)
    got, data = await api.call(method, path, **kw)
    assert (got, data["error"]["code"]) == (status, code), data
    assert data["error"]["message"]
    assert await snapshot(api.h.db) == before


async def test_ambiguous_username_is_a_conflict(api: Api) -> None:
    await meet(api.h.ledger, "discord:8", "bob")
    status, data = await api.call("GET", "/users/@bob")
    assert (status, data["error"]["code"]) == (409, "ambiguous_user")


async def test_api_and_chat_share_the_ledger(api: Api) -> None:
    await api.call("PUT", "/users/telegram:2/limit", json={"limit": "0.2"})
    reply = await api.h.say("/spend", user=BOB)
    assert "Spent $0.30 this month of your $0.20 cap; $0.00 left." in reply.last
    assert (await api.h.ledger.summary(BOB)).cap == DOLLAR // 5


async def test_one_web_server_carries_the_api_and_the_platform_routes(tmp_path: Path) -> None:
    """The platform runner adds its own routes (the Telegram webhook) next to the API on one PORT."""
    from aiohttp import web

    seen: list[bytes] = []

    async def webhook(request: web.Request) -> web.Response:
        seen.append(await request.read())
        return web.Response(text="ok")

    async with harness(tmp_path, admin_api_token=TOKEN) as h:
        app = web_app(h.core, h.settings, extra_routes=[web.post("/telegram/secret-path", webhook)])
        async with TestClient(TestServer(app)) as client:
            async with client.post("/telegram/secret-path", data=b"{}") as response:
                assert response.status == 200
            async with client.get("/api/v1/users", headers=AUTH) as response:
                assert response.status == 200
            async with client.get("/healthz") as response:
                assert await response.json() == {"ok": True}
    assert seen == [b"{}"]


async def test_an_identity_sharing_an_owners_allowance_cant_be_disabled(api: Api) -> None:
    """Disabling applies to the whole account: the owner's linked identity would disable the owner."""
    await meet(api.h.ledger, "discord:5", "boss_dc")
    await api.h.ledger.link("discord:5", OWNER)  # the owner's Telegram identity joins the Discord account
    before = await snapshot(api.h.db)
    for method, path, body in [
        ("POST", "/users/discord:5/disable", None),
        ("PATCH", "/users/discord:5", {"disabled": True}),
    ]:
        status, data = await api.call(method, path, json=body)
        assert (status, data["error"]["code"]) == (400, "owner")
        assert "shares an allowance with the owner telegram:1" in data["error"]["message"]
    assert await snapshot(api.h.db) == before


async def test_the_openapi_document_is_served_and_documents_every_route(api: Api) -> None:
    from bot.api.openapi import openapi_document

    status, served = await api.call("GET", "/openapi.json")
    assert (status, served) == (200, openapi_document())
    documented = {(method.upper(), path) for path, ops in served["paths"].items() for method in ops}
    routed: set[tuple[str, str]] = set()
    for route in api.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/api/v1/") and route.method != "HEAD":
            routed.add((route.method, path.removeprefix("/api/v1")))
    assert routed - {("GET", "/openapi.json")} == documented
    # the authorization test above walks every route
    assert {(m, p.replace("telegram:2", "{user}")) for m, p, _ in ROUTES} == routed


async def test_unlink_splits_an_identity_off_and_refuses_what_is_not_linked(api: Api) -> None:
    """Issue 13: the owner splits an identity that joined someone's allowance (here by a leaked code)."""
    before = await snapshot(api.h.db)
    status, data = await api.call("POST", f"/users/{CAROL}/unlink")
    assert (status, data["error"]["code"]) == (409, "not_linked")
    assert await snapshot(api.h.db) == before

    await api.h.ledger.link(BOB, CAROL)
    status, data = await api.call("POST", f"/users/{CAROL}/unlink")
    assert status == 200
    assert (data["user"], data["identities"], data["usage"]) == (CAROL, [CAROL], "0")
    status, data = await api.call("GET", f"/users/{BOB}")
    assert (data["identities"], data["usage"]) == ([BOB], "0.3")  # the spend stays where it was paid from
    assert (await api.call("POST", "/users/@carol/unlink"))[0] == 409
