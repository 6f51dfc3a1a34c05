"""The owner's dashboard under /dashboard/: sign-in, overview, people (with caps and blocks), models.

Mounted next to /api/v1 on the same server whenever ADMIN_API_TOKEN is set (`bot.web.web_app`). Every
page but the sign-in form and the stylesheet needs a session (`bot.dashboard.sessions`); every POST but
the sign-in needs the session's CSRF token as well, so a form on another site can change nothing. Reads
come from the ledger's reports, changes go through `bot.owner.OwnerActions`: one rule set with the chat,
the CLI and the API, refusals worded by `bot.wording.refusal`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from bot.commands.base import Services
from bot.dashboard.backoff import Backoff, client_of
from bot.dashboard.charts import daily_chart
from bot.dashboard.pages import (
    PREFIX,
    SORTS,
    models_page,
    overview_page,
    people_page,
    person_page,
    refused,
    sign_in,
)
from bot.dashboard.sessions import COOKIE, LIFETIME, Session, Sessions
from bot.deliveries import Deliveries
from bot.ledger import GLOBAL, AccountReport, period_start
from bot.owner import OwnerActions, parse_cap
from bot.refusals import Refusal
from bot.wording import refusal

if TYPE_CHECKING:
    from bot.core import Core


SERVICES = web.AppKey("services", Services)
SESSIONS = web.AppKey("sessions", Sessions)
BACKOFF = web.AppKey("backoff", Backoff)
SESSION = web.RequestKey("dashboard_session", Session)  # set by `guard` when signed in
PUBLIC = {f"{PREFIX}/login", f"{PREFIX}/static/style.css"}  # no data on either
DAYS = 30
RECENT = 25  # charges listed on a person's page
HEADERS = {
    "Cache-Control": "no-store",  # an owner's data stays out of shared caches and the back button
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


def _see_other(location: str) -> web.Response:
    """After a form, the page to show (303: the browser fetches it with GET, so a reload posts nothing)."""
    return web.Response(status=303, headers={"Location": location})


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No session: the sign-in form (or 403 for a POST), nothing else. A POST without the session's CSRF
    token is refused before its handler runs, so it changes nothing."""
    session = await request.app[SESSIONS].check(request.cookies.get(COOKIE))
    if session is None and request.path not in PUBLIC:
        if request.method in ("GET", "HEAD"):
            response: web.StreamResponse = _see_other(f"{PREFIX}/login")
        else:
            response = _html(sign_in("Sign in first; nothing was changed."), 403)
    elif session is not None and request.method == "POST" and request.path != f"{PREFIX}/login":
        form = await request.post()
        if not Sessions.csrf_ok(session, str(form.get("csrf", ""))):
            line = "This form did not come from your dashboard (its CSRF token is missing or stale)"
            response = _html(refused(line + "; nothing was changed.", f"{PREFIX}/", session.csrf), 403)
        else:
            request[SESSION] = session
            response = await handler(request)
    else:
        if session is not None:
            request[SESSION] = session
        response = await handler(request)
    response.headers.update(HEADERS)
    return response


def _session(request: web.Request) -> Session:
    return request[SESSION]


def _actions(request: web.Request) -> OwnerActions:
    return request.app[SERVICES].owner_actions


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if SESSION in request:
        return _see_other(f"{PREFIX}/")
    return _html(sign_in())


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    """The token in a form body; a right one starts a session, a wrong one counts against the client
    (its IPv4 address or IPv6 /64; behind a trusted proxy, as `bot.web_proxies` names it) in every process
    on this database. A try while the client waits is refused whatever its token (unread when this
    process already knows of the wait)."""
    backoff, client = request.app[BACKOFF], client_of(request.remote)
    sessions = request.app[SESSIONS]
    wait, right = backoff.known_wait(client), False
    if wait is None:
        form = await request.post()
        right = sessions.token_matches(str(form.get("token", "")))  # constant time, before any wait
        wait = await backoff.tried(client, right)
    if wait is not None:
        return _too_many(wait)
    if not right:
        return _html(sign_in("That is not the admin token."), 401)
    _, value = sessions.start()
    response = _see_other(f"{PREFIX}/")
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(LIFETIME.total_seconds()),
        path=f"{PREFIX}/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,  # https here, or a trusted proxy's X-Forwarded-Proto says so
    )
    return response


def _too_many(wait: timedelta) -> web.Response:
    seconds = max(1, math.ceil(wait.total_seconds()))
    page = sign_in(f"Too many wrong tokens: try again in {seconds} s.")
    return web.Response(
        text=page, status=429, content_type="text/html", headers={"Retry-After": str(seconds)}
    )


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await request.app[SESSIONS].end(_session(request))
    response = _see_other(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=f"{PREFIX}/")
    return response


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    """This period's total against the global cap, the daily chart, top people and models, open holds."""
    ledger = request.app[SERVICES].ledger
    standing = await ledger.global_standing()
    days = await ledger.daily_spend(GLOBAL, DAYS)
    top = await _actions(request).everyone(limit=10)
    models = await ledger.usage_by_model(None, period_start(standing.period, ledger.now()))
    holds = await ledger.open_holds()
    chart = daily_chart(days, "Everyone's spend per day")
    page = overview_page(
        standing, chart, [r for r in top if r.spent], models[:10], holds, _session(request).csrf
    )
    return _html(page)


def _sort_key(sort: str, seen: dict[str, datetime]) -> Callable[[AccountReport], tuple[object, ...]]:
    """Unlimited caps and remainders sort above every amount; never-seen people below everyone."""
    keys: dict[str, Callable[[AccountReport], tuple[object, ...]]] = {
        "user": lambda r: (r.user,),
        "username": lambda r: (r.username or "", r.user),
        "spent": lambda r: (r.spent, r.user),
        "cap": lambda r: (r.cap is None, r.cap or 0, r.user),
        "remaining": lambda r: (r.remaining is None, r.remaining or 0, r.user),
        "last_seen": lambda r: (seen.get(r.user, datetime.min.replace(tzinfo=UTC)), r.user),
    }
    return keys[sort]


def _matches(report: AccountReport, query: str) -> bool:
    words = query.lower().split()
    names = " ".join((*report.identities, "@" + (report.username or ""))).lower()
    return all(word in names for word in words)


@routes.get("/people")
async def people(request: web.Request) -> web.Response:
    """Every account; `q` filters by identity or @username, `sort` and `dir` order the table."""
    services = request.app[SERVICES]
    query = request.query.get("q", "").strip()
    sort = request.query.get("sort", "spent")
    sort = sort if sort in SORTS else "spent"
    descending = request.query.get("dir", "desc" if sort in ("spent", "last_seen") else "asc") == "desc"
    seen = await services.ledger.last_seen()
    found = [r for r in await _actions(request).everyone() if _matches(r, query)]
    found.sort(key=_sort_key(sort, seen), reverse=descending)
    owners = {r.user: any(services.is_owner(i) for i in r.identities) for r in found}
    back = request.path_qs
    page = people_page(found, seen, owners, query, sort, descending, _session(request).csrf, back)
    return _html(page)


async def _person(request: web.Request) -> str:
    return await _actions(request).resolve(request.match_info["user"])


@routes.get("/people/{user}")
async def person(request: web.Request) -> web.Response:
    """One account: standing and controls, daily chart, spend by model, recent charges."""
    services = request.app[SERVICES]
    try:
        user = await _person(request)
    except Refusal as exc:
        return _html(refused(refusal(exc, services.clock()), f"{PREFIX}/people", _session(request).csrf), 404)
    actions = _actions(request)
    report = await actions.standing(user)
    days = await services.ledger.daily_spend(report.user, DAYS)
    usage = await actions.usage(user)
    charges = await services.ledger.recent_charges(user, RECENT)
    owner = any(services.is_owner(i) for i in report.identities)
    chart = daily_chart(days, f"{report.user}'s spend per day")
    return _html(person_page(report, owner, chart, usage.rows, charges, _session(request).csrf))


async def _change(
    request: web.Request, change: Callable[[OwnerActions, str, dict[str, str]], Awaitable[object]]
) -> web.StreamResponse:
    """Run one owner action on the named person, then back to the page the form was on; a refusal is one
    line on a page of its own and changes nothing (the action checks before its one write)."""
    form = {k: str(v) for k, v in (await request.post()).items()}
    back = form.get("back", "")
    if not back.startswith(f"{PREFIX}/") or "//" in back or "\\" in back:
        back = f"{PREFIX}/people"
    try:
        await change(_actions(request), await _person(request), form)
    except Refusal as exc:
        now = request.app[SERVICES].clock()
        return _html(refused(refusal(exc, now), back, _session(request).csrf), 400)
    return _see_other(back)


@routes.post("/people/{user}/cap")
async def set_cap(request: web.Request) -> web.StreamResponse:
    """An amount, `unlimited` or `default`, and a period (empty: keep the current one), as /cap takes them."""

    async def cap(actions: OwnerActions, user: str, form: dict[str, str]) -> object:
        period = form.get("period") or None
        return await actions.set_cap(user, parse_cap(form.get("amount", ""), period))

    return await _change(request, cap)


@routes.post("/people/{user}/block")
async def set_blocked(request: web.Request) -> web.StreamResponse:
    """blocked=1 blocks the whole account (refused for owners), blocked=0 lifts a block."""

    async def block(actions: OwnerActions, user: str, form: dict[str, str]) -> object:
        return await actions.set_blocked(user, form.get("blocked") == "1")

    return await _change(request, block)


@routes.get("/models")
async def models(request: web.Request) -> web.Response:
    """Requests, tokens and cost per model for everyone, in the default period."""
    found = await _actions(request).usage(None)
    return _html(models_page(found.rows, found.period, _session(request).csrf))


STYLE = resources.files("bot.dashboard").joinpath("static/style.css")


@routes.get("/static/style.css")
async def style(request: web.Request) -> web.Response:
    return web.Response(text=STYLE.read_text("utf-8"), content_type="text/css")


def build_dashboard(core: Core) -> web.Application:
    """The dashboard as an aiohttp application, to mount with `app.add_subapp("/dashboard", ...)`; only
    built when ADMIN_API_TOKEN is set (the token is what signs owners in)."""
    services = core.services
    token = services.settings.secret("ADMIN_API_TOKEN")
    assert token is not None, "the dashboard is mounted only with ADMIN_API_TOKEN"
    app = web.Application(middlewares=[guard])
    app[SERVICES] = services
    app[SESSIONS] = Sessions(token, Deliveries(services.ledger.db, services.clock), services.clock)
    app[BACKOFF] = Backoff(services.ledger.db, services.clock)
    app.add_routes(routes)
    return app
