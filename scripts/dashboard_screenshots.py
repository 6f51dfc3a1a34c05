"""Screenshots of the owner's dashboard for the README: a demo ledger, the real server, Debian's Chromium.

    python scripts/dashboard_screenshots.py [--out docs] [--chromium /usr/bin/chromium]

Thirty days of made-up spending by a handful of people (seeded, so every run draws the same pages) go
through the ledger's own reserve → settle path on a temporary SQLite database; the bot's web server serves
the dashboard on a free port; Playwright signs in and saves the overview and people pages (wide), and the
overview as a phone shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from playwright.async_api import async_playwright

from bot.config import load_settings
from bot.core import open_core
from bot.ledger import ChargeDetail, Ledger, Quote
from bot.tokens import TokenCounts
from bot.web import serve

NOW = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
OWNER = "telegram:1001"
PEOPLE = {  # identity: (@username, average answers a day)
    OWNER: ("maria", 6),
    "telegram:2002": ("jonas", 4),
    "discord:3003": ("aiko", 3),
    "telegram:4004": ("li_wei", 2),
    "discord:5005": ("sam", 1),
    "telegram:6006": ("noor", 1),
}
MODELS = {  # model: (nano-dollars per answer, roughly; input and output tokens)
    "openai/gpt-4o-mini": (2_000_000, 9_000, 350),
    "anthropic/claude-3-5-haiku-latest": (9_000_000, 12_000, 400),
    "google/gemini-2.0-flash": (1_200_000, 15_000, 500),
    "openai/gpt-4o": (35_000_000, 11_000, 450),
}


class DemoClock:
    """The ledger's clock, walked through the demo's thirty days."""

    def __init__(self) -> None:
        self.now = NOW - timedelta(days=29, hours=6)

    def __call__(self) -> datetime:
        return self.now


async def answer(
    ledger: Ledger, user: str, model: str, rng: random.Random, *, estimated: bool = False
) -> None:
    """One answer as /ask pays for it: the worst case held, the cost settled."""
    price, prompt, output = MODELS[model]
    cost = int(price * rng.uniform(0.4, 1.8))
    hold = await ledger.reserve(user, Quote(cost, Decimal(0), output * 2, 16))
    tokens = TokenCounts(
        input_tokens=int(prompt * rng.uniform(0.5, 2)), output_tokens=int(output * rng.random())
    )
    await ledger.settle(hold, cost, ChargeDetail(model, tokens, estimated=estimated))


async def populate(ledger: Ledger, clock: DemoClock) -> None:
    """Names, caps, a link and a block as an owner would have set them, then thirty days of answers."""
    rng = random.Random(18)
    for user, (name, _) in PEOPLE.items():
        await ledger.remember_names(user, name, None)
    await ledger.set_cap(OWNER, None, unlimited=True)
    await ledger.set_cap("telegram:2002", 15 * 10**9, period="monthly")
    await ledger.set_cap("discord:5005", 50 * 10**7, period="daily")
    await ledger.link("discord:3003", "telegram:7007")  # Aiko on Telegram too
    for _day in range(30):
        for user, (_, rate) in PEOPLE.items():
            for _ in range(rng.randint(0, rate * 2)):
                model = rng.choices(list(MODELS), weights=(6, 2, 3, 1))[0]
                await answer(ledger, user, model, rng, estimated=rng.random() < 0.03)
        clock.now += timedelta(days=1)
    clock.now = NOW
    await ledger.set_blocked("telegram:6006", True)
    await ledger.reserve("telegram:2002", Quote(3_000_000, Decimal(0), 1000, 16))  # an answer in progress


async def main(out: Path, chromium: str) -> None:
    token = secrets.token_urlsafe(24)
    clock = DemoClock()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/demo.db",
            owner_ids=(OWNER,),
            default_cap_usd=Decimal(20),
            cap_period="monthly",
            global_cap_usd=Decimal(250),
            admin_api_token=token,
        )
        async with open_core(settings, clock=clock) as core:
            await populate(core.services.ledger, clock)
            async with serve(core, settings, host="127.0.0.1", port=0) as port, async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, headless=True)
                root = f"http://127.0.0.1:{port}/dashboard/"
                for name, size, paths in (
                    ("wide", {"width": 1280, "height": 900}, ("", "people")),
                    ("phone", {"width": 390, "height": 844}, ("",)),
                ):
                    page = await browser.new_page(viewport=size, device_scale_factor=1)  # type: ignore[arg-type]
                    await page.goto(root)
                    await page.get_by_label("Admin token").fill(token)
                    await page.get_by_role("button", name="Sign in").click()
                    for path in paths:
                        await page.goto(root + path)
                        shot = (
                            out / f"dashboard-{path or 'overview'}{'-phone' if name == 'phone' else ''}.png"
                        )
                        await page.screenshot(path=shot, full_page=True)
                        print(shot)
                await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.out, args.chromium))
