"""`ADMIN_API_TOKEN=… python -m bot api` serves the dashboard; two such processes on one database (web
workers behind one port) share sessions and sign-outs."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import aiohttp
from yarl import URL

from bot.dashboard.sessions import COOKIE
from tests.dashboard.site import TOKEN
from tests.processes import bot_process, free_port, process_environment

UP_WITHIN = 60.0  # seconds: a process starting on a heavily loaded CI machine


async def until_up(session: aiohttp.ClientSession, root: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + UP_WITHIN
    while True:
        with contextlib.suppress(aiohttp.ClientConnectionError):
            async with session.get(f"{root}/healthz") as response:
                if response.status == 200:
                    return
        assert loop.time() < deadline, f"{root} did not come up"
        await asyncio.sleep(0.1)


async def test_python_m_bot_api_serves_the_dashboard(tmp_path: Path) -> None:
    env = process_environment(
        DATABASE_URL=f"sqlite:///{tmp_path}/capbot.db", ADMIN_API_TOKEN=TOKEN, OWNER_IDS="telegram:1"
    )
    ports = free_port(), free_port()
    async with contextlib.AsyncExitStack() as stack:
        for port in ports:
            await stack.enter_async_context(
                bot_process("api", tmp_path, {**env, "PORT": str(port)}, never_logged=(TOKEN,))
            )
        first, second = (f"http://127.0.0.1:{port}" for port in ports)
        # one browser: the cookie of 127.0.0.1 goes to both ports, as to workers behind one port
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            await until_up(browser, first)
            await until_up(browser, second)
            async with browser.post(f"{first}/dashboard/login", data={"token": TOKEN}) as response:
                assert response.status == 200 and "<h1>Overview</h1>" in await response.text()
            async with browser.get(f"{second}/dashboard/people") as response:  # signed in at the first
                page = await response.text()
                assert "<h1>People</h1>" in page
            async with browser.post(
                f"{second}/dashboard/people/telegram:2/cap",
                data={
                    "amount": "3",
                    "period": "weekly",
                    "csrf": re.findall(r'name=csrf value="([^"]+)"', page)[0],
                },
            ) as response:
                assert "$3.00</span> per week" in await response.text()
            async with browser.get(
                f"{first}/api/v1/users/telegram:2", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response:
                standing = await response.json()
                assert (standing["limit"], standing["period"]) == ("3", "weekly")
            cookie = jar.filter_cookies(URL(f"{first}/dashboard/"))[COOKIE].value
            csrf = re.findall(r'name=csrf value="([^"]+)"', page)[0]
            async with browser.post(f"{first}/dashboard/logout", data={"csrf": csrf}) as response:
                assert "Admin token" in await response.text()
            jar.update_cookies({COOKIE: cookie})  # a copy kept after signing out ...
            async with browser.get(f"{second}/dashboard/people") as response:  # ... is refused by the other
                assert "Admin token" in await response.text() and "telegram:2" not in await response.text()
