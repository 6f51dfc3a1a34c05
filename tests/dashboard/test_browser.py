"""The dashboard in a real browser: Playwright driving Debian's Chromium against a served bot process.

Skipped, with the reason, only when no Chromium is installed (`.ci/run` installs Debian's `chromium`);
Playwright never downloads a browser here.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.web import serve
from bot.web_limits import listening
from tests.dashboard.site import BOB, BOB_SPENT, CAROL, TOKEN, seed
from tests.harness import OWNER, Harness, harness, snapshot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (Debian's chromium package; .ci/run installs it)"
)


@dataclass
class Served:
    h: Harness
    url: str  # the dashboard's root, http://127.0.0.1:<port>/dashboard/
    port: int
    browser: Browser

    async def page(self) -> Page:
        return await (await self.browser.new_context()).new_page()

    async def signed_in(self) -> Page:
        page = await self.page()
        await page.goto(self.url)
        await page.get_by_label("Admin token").fill(TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        return page

    async def api(self, path: str) -> Any:
        """What the owner API says, as an independent look at the ledger."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/api/v1{path}", headers=headers) as response,
        ):
            assert response.status == 200
            return await response.json()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with harness(tmp_path, admin_api_token=TOKEN, global_cap_usd=Decimal(50)) as h:
        await seed(h)
        async with serve(h.core, h.settings, host="127.0.0.1", port=0) as port, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                yield Served(h, f"http://127.0.0.1:{port}/dashboard/", port, browser)
            finally:
                await browser.close()


async def test_without_a_session_no_data(served: Served) -> None:
    page = await served.page()
    for path in ("", "people", f"people/{BOB}", "models"):
        await page.goto(served.url + path)
        await expect(page.get_by_label("Admin token")).to_be_visible()
        body = await page.content()
        assert BOB not in body and "@bob" not in body and "<svg" not in body


async def test_a_wrong_token_is_refused(served: Served) -> None:
    page = await served.page()
    await page.goto(served.url)
    await page.get_by_label("Admin token").fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    assert await page.context.cookies() == []
    await page.goto(served.url + "people")
    await expect(page.get_by_label("Admin token")).to_be_visible()


async def test_the_right_token_shows_people_and_a_chart(served: Served) -> None:
    page = await served.signed_in()
    chart = page.get_by_role("img", name="Everyone's spend per day")
    await expect(chart).to_be_visible()
    await expect(chart.locator("rect.bar")).to_have_count(30)
    [cookie] = await page.context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/dashboard/")
    await page.get_by_role("link", name="People").click()
    for who in (BOB, CAROL, OWNER):
        await expect(page.get_by_role("link", name=who, exact=True)).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text=BOB)).to_contain_text("@bob")
    await page.get_by_role("link", name=BOB, exact=True).click()
    await expect(page.get_by_role("img", name=f"{BOB}'s spend per day")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await page.goto(served.url)
    await expect(page.get_by_label("Admin token")).to_be_visible()


async def test_a_cap_set_from_the_table_lands_in_the_ledger(served: Served) -> None:
    page = await served.signed_in()
    await page.goto(served.url + "people")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=BOB, exact=True))
    await row.get_by_label(f"New cap for {BOB}").fill("2.5")
    await row.get_by_label("Period").select_option("daily")
    await row.get_by_role("button", name="Set cap").click()
    await expect(page.get_by_role("heading", name="People")).to_be_visible()
    standing = await served.api(f"/users/{BOB}")
    assert (standing["limit"], standing["period"]) == ("2.5", "daily")
    assert standing["usage"] == str(Decimal(BOB_SPENT) / 10**9)  # today's spend, exactly
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=BOB, exact=True))
    await expect(row).to_contain_text("$2.50 per day")


ATTACK = """<!doctype html><form id=f method=post action="{action}">
<input name=amount value=999><input name=period value=total></form>
<script>document.getElementById("f").submit()</script>"""


@pytest.mark.parametrize(
    ("host", "why"), [("127.0.0.1", "its CSRF token is missing"), ("localhost", "Sign in first")]
)
async def test_a_cross_site_form_post_changes_nothing(served: Served, host: str, why: str) -> None:
    """A page elsewhere posts a cap form to the dashboard of a signed-in owner: from another port of the
    same host the cookie goes along but the CSRF token can't; from another site (localhost is not
    127.0.0.1) SameSite=Strict keeps even the cookie back."""
    page = await served.signed_in()
    before = await snapshot(served.h.db)
    action = f"{served.url}people/{BOB}/cap"

    async def attack(request: web.Request) -> web.Response:
        return web.Response(text=ATTACK.format(action=action), content_type="text/html")

    evil = web.Application()
    evil.router.add_get("/", attack)
    async with listening(evil, "127.0.0.1", 0) as url:
        port = url.rsplit(":", 1)[1]
        async with page.expect_response(action) as answer:
            await page.goto(f"http://{host}:{port}/")
        response = await answer.value
        assert response.status == 403
        text = await response.text()
        assert why in text and "nothing was changed" in text
    assert await snapshot(served.h.db) == before
    assert (await served.api(f"/users/{BOB}"))["limit"] == "1"
