"""The dashboard's pages and forms through aiohttp's test client, on the app every bot process serves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from html import escape
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.dashboard.backoff import FREE_TRIES
from bot.dashboard.sessions import COOKIE
from bot.money import format_usd
from bot.web import web_app
from tests.dashboard.site import BOB, BOB_SPENT, CAROL, CAROL_ESTIMATED, DAVE, TOKEN, Site, site
from tests.harness import CENT, DOLLAR, OWNER, harness, snapshot

PAGES = ["/dashboard/", "/dashboard/people", f"/dashboard/people/{BOB}", "/dashboard/models"]
FORMS = [
    (f"/dashboard/people/{BOB}/cap", {"amount": "5", "period": "daily"}),
    (f"/dashboard/people/{BOB}/block", {"blocked": "1"}),
    ("/dashboard/logout", {}),
]
DATA = ["telegram:2", "bob", "gpt-4o", "$0.30", "<svg"]  # what no signed-out page may show


@pytest.fixture
async def s(tmp_path: Path) -> AsyncIterator[Site]:
    async with site(tmp_path, global_cap_usd=Decimal(50)) as found:
        yield found


@pytest.mark.parametrize("path", PAGES)
async def test_no_session_no_data(s: Site, path: str) -> None:
    status, page = await s.get(path)
    assert status == 303
    assert not any(word in page for word in DATA)
    async with s.client.get(path) as response:  # followed: the sign-in form, and nothing else
        page = await response.text()
        assert str(response.url).endswith("/dashboard/login")
    assert "type=password name=token" in page
    assert not any(word in page for word in DATA)


@pytest.mark.parametrize(("path", "form"), FORMS)
@pytest.mark.parametrize("cookie", [None, "forged.1999999999.00", "x"])
async def test_no_session_changes_nothing(
    s: Site, path: str, form: dict[str, str], cookie: str | None
) -> None:
    before = await snapshot(s.h.db)
    if cookie:
        s.client.session.cookie_jar.update_cookies({COOKIE: cookie})
    status, page = await s.post(path, form)
    assert status == 403
    assert not any(word in page for word in DATA)
    assert await snapshot(s.h.db) == before


async def test_wrong_token_refused_then_slowed(s: Site) -> None:
    for _ in range(FREE_TRIES):
        assert await s.sign_in("wrong") == 401
    assert await s.sign_in("wrong") == 401  # past the free tries: this one starts a wait
    async with s.client.post("/dashboard/login", data={"token": TOKEN}, allow_redirects=False) as response:
        assert response.status == 429  # even the right token waits: the try is not read
        assert int(response.headers["Retry-After"]) == 2
        assert COOKIE not in response.cookies
    s.h.clock.advance(seconds=2)
    assert await s.sign_in("wrong") == 401
    async with s.client.post("/dashboard/login", data={"token": TOKEN}) as response:
        assert response.status == 429
        assert int(response.headers["Retry-After"]) == 4  # twice as long each time
    s.h.clock.advance(seconds=4)
    assert await s.sign_in() == 303
    assert (await s.get("/dashboard/people"))[0] == 200


async def test_the_token_in_a_url_signs_nobody_in(s: Site) -> None:
    status, _ = await s.get(f"/dashboard/login?token={TOKEN}")
    assert status == 200
    assert (await s.get("/dashboard/"))[0] == 303


async def test_session_cookie(s: Site) -> None:
    async with s.client.post("/dashboard/login", data={"token": TOKEN}, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/dashboard/"
        cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/dashboard/"
    assert cookie["max-age"] == str(8 * 3600)
    assert not cookie["secure"]  # plain http here; behind a proxy: test_behind_proxy.py
    assert TOKEN not in cookie.value


async def test_overview(s: Site) -> None:
    await s.sign_in()
    status, page = await s.get("/dashboard/")
    assert status == 200
    spent = BOB_SPENT + CAROL_ESTIMATED
    assert f'title="${Decimal(spent) / DOLLAR}"' in page  # the exact amount, not a float
    assert f"{format_usd(spent)}</span> spent this month of the global cap" in page
    assert page.count('<rect class="bar"') == 30
    # one bar per day: yesterday's is Carol's, today's Bob's, exact in their titles
    assert re.search(rf"2026-11-21: {re.escape(format_usd(CAROL_ESTIMATED))}</title>", page)
    assert re.search(rf"2026-11-22: {re.escape(format_usd(BOB_SPENT))}</title>", page)
    assert "openai/gpt-4o" in page and "anthropic/claude-3-5-haiku-latest" in page
    open_holds = page.split("Open holds</h2>")[1]
    assert CAROL in open_holds and format_usd(2 * CENT) in open_holds


async def test_people_table(s: Site) -> None:
    await s.h.ledger.set_blocked(CAROL, True)
    await s.sign_in()
    status, page = await s.get("/dashboard/people")
    assert status == 200
    rows = re.findall(r"<tr><td>(.*?)</tr>", page)
    assert [re.search(r">([a-z]+:\d+)</a>", r).group(1) for r in rows] == [BOB, CAROL, OWNER]  # type: ignore[union-attr]
    bob, carol, owner = rows
    assert "@bob" in bob and format_usd(BOB_SPENT) in bob and "$1.00</span> per month" in bob
    assert "2026-11-22 12:00 UTC" in bob  # last seen: the charge
    assert ">blocked<" in carol and ">Unblock</button>" in carol
    assert "owner" in owner and ">Block</button>" not in owner


async def test_people_search_and_sort(s: Site) -> None:
    await s.sign_in()
    _, page = await s.get("/dashboard/people?q=@car")
    assert CAROL in page and BOB not in page
    _, page = await s.get("/dashboard/people?q=telegram")
    assert BOB in page and OWNER in page and CAROL not in page
    _, page = await s.get("/dashboard/people?sort=user&dir=asc")
    order = re.findall(r"<tr><td><a href=\"/dashboard/people/([^\"]+)\"", page)
    assert order == sorted([BOB, CAROL, OWNER])
    _, page = await s.get("/dashboard/people?sort=user&dir=desc")
    assert re.findall(r"<tr><td><a href=\"/dashboard/people/([^\"]+)\"", page) == sorted(order, reverse=True)


async def test_person_page_marks_estimated_charges(s: Site) -> None:
    await s.sign_in()
    status, page = await s.get(f"/dashboard/people/{CAROL}")
    assert status == 200
    assert page.count('<rect class="bar"') == 30
    recent = page.split("Recent charges</h2>")[1]
    assert "anthropic/claude-3-5-haiku-latest" in recent and ">estimated</span>" in recent
    _, bob = await s.get(f"/dashboard/people/{BOB}")
    assert "estimated</span>" not in bob.split("Recent charges</h2>")[1]
    assert "1,200" in bob and "300" in bob


async def test_unknown_person(s: Site) -> None:
    await s.sign_in()
    status, page = await s.get("/dashboard/people/@nobody")
    assert status == 404
    assert "I don&#x27;t know @nobody" in page


async def test_models_page(s: Site) -> None:
    await s.sign_in()
    _, page = await s.get("/dashboard/models")
    row = re.search(r"<tr><td>openai/gpt-4o</td>(.*?)</tr>", page)
    assert row
    assert [*re.findall(r"<td>([\d,]+)</td>", row.group(1))] == ["1", "1,200", "0", "300", "0"]
    assert format_usd(BOB_SPENT) in row.group(1)


async def test_set_cap_from_the_table(s: Site) -> None:
    await s.sign_in()
    csrf = await s.csrf()
    back = "/dashboard/people?sort=user"
    status, _ = await s.post(
        f"/dashboard/people/{BOB}/cap", {"amount": "2.5", "period": "daily", "csrf": csrf, "back": back}
    )
    assert status == 303
    report = await s.h.ledger.account(BOB)
    assert (report.cap, report.period) == (250 * CENT, "daily")
    # no period: the current one stays; unlimited and default as the chat's /cap takes them
    await s.post(f"/dashboard/people/{BOB}/cap", {"amount": "unlimited", "period": "", "csrf": csrf})
    report = await s.h.ledger.account(BOB)
    assert (report.cap, report.period) == (None, "daily")
    await s.post(f"/dashboard/people/{BOB}/cap", {"amount": "default", "period": "default", "csrf": csrf})
    profile = await s.h.ledger.profile(BOB)
    assert (profile.cap, profile.unlimited, profile.period) == (None, False, None)


async def test_a_cap_for_someone_who_never_wrote(s: Site) -> None:
    await s.sign_in()
    await s.post(f"/dashboard/people/{DAVE}/cap", {"amount": "3", "period": "weekly", "csrf": await s.csrf()})
    assert (await s.h.ledger.account(DAVE)).cap == 3 * DOLLAR


@pytest.mark.parametrize(
    ("form", "line"),
    [
        ({"amount": "-1"}, "'-1' is not an amount of dollars"),
        ({"amount": "0.0000000001"}, "more than nine decimals"),
        ({"amount": "5", "period": "hourly"}, "'hourly' is not a period"),
        ({"amount": ""}, "is not an amount of dollars"),
    ],
)
async def test_bad_caps_change_nothing(s: Site, form: dict[str, str], line: str) -> None:
    await s.sign_in()
    csrf = await s.csrf()
    before = await snapshot(s.h.db)
    status, page = await s.post(f"/dashboard/people/{BOB}/cap", form | {"csrf": csrf})
    assert status == 400
    assert escape(line) in page
    assert await snapshot(s.h.db) == before


async def test_block_and_unblock(s: Site) -> None:
    await s.sign_in()
    csrf = await s.csrf()
    await s.post(f"/dashboard/people/{BOB}/block", {"blocked": "1", "csrf": csrf})
    assert (await s.h.ledger.account(BOB)).blocked
    await s.post(f"/dashboard/people/{BOB}/block", {"blocked": "0", "csrf": csrf})
    assert not (await s.h.ledger.account(BOB)).blocked


@pytest.mark.parametrize(
    ("who", "line"),
    [(OWNER, f"{OWNER} is an owner"), (DAVE, f"{DAVE} shares an allowance with the owner {OWNER}")],
)
async def test_owners_cant_be_blocked(s: Site, who: str, line: str) -> None:
    await s.h.ledger.link(OWNER, DAVE)
    await s.sign_in()
    csrf = await s.csrf()
    before = await snapshot(s.h.db)
    status, page = await s.post(f"/dashboard/people/{who}/block", {"blocked": "1", "csrf": csrf})
    assert status == 400
    assert f"{line}; owners can&#x27;t be blocked." in page
    assert await snapshot(s.h.db) == before


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
async def test_a_post_without_the_csrf_token_changes_nothing(s: Site, csrf: str | None) -> None:
    await s.sign_in()
    before = await snapshot(s.h.db)
    form = {"amount": "9", "period": "daily"} | ({} if csrf is None else {"csrf": csrf})
    status, page = await s.post(f"/dashboard/people/{BOB}/cap", form)
    assert status == 403
    assert "nothing was changed" in page
    status, _ = await s.post(f"/dashboard/people/{BOB}/block", {"blocked": "1"})
    assert status == 403
    assert await snapshot(s.h.db) == before


async def test_the_back_field_stays_on_the_dashboard(s: Site) -> None:
    await s.sign_in()
    csrf = await s.csrf()
    for back in ("https://evil.example/", "//evil.example/dashboard/", "/dashboard//evil.example"):
        async with s.client.post(
            f"/dashboard/people/{BOB}/block",
            data={"blocked": "0", "csrf": csrf, "back": back},
            allow_redirects=False,
        ) as response:
            assert response.headers["Location"] == "/dashboard/people"


async def test_sign_out_ends_the_session_in_every_process(s: Site) -> None:
    await s.sign_in()
    csrf = await s.csrf()
    cookie = s.client.session.cookie_jar.filter_cookies(s.client.make_url("/dashboard/"))[COOKIE].value
    # a second process on the same database (web workers behind one port) accepts the same session ...
    async with TestClient(TestServer(web_app(s.h.core, s.h.settings))) as other:
        other.session.cookie_jar.update_cookies({COOKIE: cookie})
        async with other.get("/dashboard/people", allow_redirects=False) as response:
            assert response.status == 200
        status, _ = await s.post("/dashboard/logout", {"csrf": csrf})
        assert status == 303
        # ... until it is signed out in the first: then neither shows anything
        async with other.get("/dashboard/people", allow_redirects=False) as response:
            assert response.status == 303
    s.client.session.cookie_jar.update_cookies({COOKIE: cookie})  # even a copy kept by the browser
    assert (await s.get("/dashboard/people"))[0] == 303


async def test_sessions_expire(s: Site) -> None:
    await s.sign_in()
    s.h.clock.advance(hours=7, minutes=59)
    assert (await s.get("/dashboard/"))[0] == 200
    s.h.clock.advance(minutes=1)
    assert (await s.get("/dashboard/"))[0] == 303


async def test_a_new_token_ends_every_session(s: Site, tmp_path: Path) -> None:
    await s.sign_in()
    cookie = s.client.session.cookie_jar.filter_cookies(s.client.make_url("/dashboard/"))[COOKIE].value
    async with (
        harness(tmp_path / "other", admin_api_token="another-token-0123456789") as h,
        TestClient(TestServer(web_app(h.core, h.settings))) as other,
    ):
        other.session.cookie_jar.update_cookies({COOKIE: cookie})
        async with other.get("/dashboard/", allow_redirects=False) as response:
            assert response.status == 303


async def test_pages_are_not_cached_nor_framed(s: Site) -> None:
    await s.sign_in()
    async with s.client.get("/dashboard/") as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_stylesheet_is_served_without_a_session(s: Site) -> None:
    async with s.client.get("/dashboard/static/style.css") as response:
        assert response.status == 200
        assert response.content_type == "text/css"
        assert ".chart" in await response.text()


async def test_no_dashboard_without_a_token(tmp_path: Path) -> None:
    async with (
        harness(tmp_path) as h,
        TestClient(TestServer(web_app(h.core, h.settings))) as client,
        client.get("/dashboard/login") as response,
    ):
        assert response.status == 404
