"""A dashboard on a seeded ledger, served the way every bot process serves it, and a signed-in client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.ledger import ChargeDetail, Hold, Quote
from bot.tokens import TokenCounts
from bot.web import web_app
from tests.harness import CENT, OWNER, Harness, charge, harness, meet

TOKEN = "dashboard-admin-token-0123456789"
BOB, CAROL, DAVE = "telegram:2", "discord:3", "telegram:4"
BOB_SPENT = 30 * CENT + 7  # not a round amount: shown rounded, exact in the title
CAROL_ESTIMATED = 4 * CENT


@dataclass
class Site:
    h: Harness
    client: TestClient[Any, Any]
    hold: Hold  # Carol's answer in progress

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.client.get(path, allow_redirects=False, **kw) as response:
            return response.status, await response.text()

    async def post(self, path: str, data: dict[str, str], **kw: Any) -> tuple[int, str]:
        async with self.client.post(path, data=data, allow_redirects=False, **kw) as response:
            return response.status, await response.text()

    async def sign_in(self, token: str = TOKEN) -> int:
        status, _ = await self.post("/dashboard/login", {"token": token})
        return status

    async def csrf(self) -> str:
        """The CSRF token the signed-in pages carry in their forms."""
        _, page = await self.get("/dashboard/people")
        found = re.search(r'name=csrf value="([^"]+)"', page)
        assert found, "a signed-in page without a CSRF field"
        return found.group(1)


async def seed(h: Harness) -> Hold:
    """Bob spent this morning, Carol yesterday (an estimated charge) and has an answer in progress, Dave
    never wrote; the owner is known by name."""
    ledger, clock = h.ledger, h.clock
    await meet(ledger, OWNER, "boss")
    await meet(ledger, BOB, "bob")
    await meet(ledger, CAROL, "carol")
    await charge(ledger, BOB, BOB_SPENT, "openai/gpt-4o", input_tokens=1200, output_tokens=300)
    clock.advance(days=-1)
    hold = await ledger.reserve(CAROL, Quote(CAROL_ESTIMATED, Decimal(0), 100, 16))
    detail = ChargeDetail("anthropic/claude-3-5-haiku-latest", TokenCounts(input_tokens=40), estimated=True)
    await ledger.settle(hold, CAROL_ESTIMATED, detail)
    clock.advance(days=1)
    return await ledger.reserve(CAROL, Quote(2 * CENT, Decimal(0), 100, 16))


@asynccontextmanager
async def site(tmp_path: Path, **settings: Any) -> AsyncIterator[Site]:
    settings.setdefault("admin_api_token", TOKEN)
    async with harness(tmp_path, **settings) as h:
        hold = await seed(h)
        async with TestClient(TestServer(web_app(h.core, h.settings))) as client:
            yield Site(h, client, hold)
