"""One web server per bot process, on PORT: the provisioning API, the OpenAI-compatible gateway, a health
check, the owner's dashboard, and the platform runner's own routes (the Telegram webhook) side by side.

    async with serve(core, settings, extra_routes=[web.post("/telegram/webhook", on_update)]):
        ...  # run the platforms; the server stops when the block ends

`web_app` builds the same application without listening, for tests and for runners that host it
themselves. The API (under /api/v1) and the dashboard (under /dashboard/) are mounted only when
ADMIN_API_TOKEN is set, the gateway under /v1 only when GATEWAY=1 (its keys checked by the ledger, see
`key_owner`). `bot.web_limits.listening` is the one way anything here (this server, the demo model, the
tests' fakes) puts an aiohttp app on a port, always behind the deadlines and the connection cap of
`bot.web_limits`.

Behind a reverse proxy, `bot.web_proxies` decides who the client is (`TRUSTED_PROXIES`): every
per-address decision and log line reads it as `request.remote`, and the scheme as `request.secure`.

The address: `HOST` when set; else all interfaces when a Telegram webhook must be reachable from outside,
and 127.0.0.1 otherwise (the owner API alone is for this machine, or for a reverse proxy in front of it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web

from bot.api import build_api
from bot.commands.base import Services
from bot.config import Settings
from bot.dashboard import PREFIX as DASHBOARD_PREFIX
from bot.dashboard import build_dashboard
from bot.gateway import Authenticate, build_gateway
from bot.web_limits import DEFAULT_LIMITS, WebLimits, listening, quiet_accept_errors, whole_body
from bot.web_proxies import TrustedProxies, behind_proxies

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
GATEWAY_PREFIX = "/v1"


def key_owner(services: Services) -> Authenticate:
    """The gateway's production authentication: the ledger's per-person keys (`Ledger.key_owner`)."""
    return services.ledger.key_owner


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _to_dashboard(request: web.Request) -> web.Response:
    """/dashboard → /dashboard/, where the session cookie's path starts."""
    return web.Response(status=308, headers={"Location": DASHBOARD_PREFIX + "/"})


def web_app(
    core: Core,
    settings: Settings,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    limits: WebLimits = DEFAULT_LIMITS,
    *,
    authenticate: Authenticate | None = None,
) -> web.Application:
    """The process's aiohttp application: /healthz, the API and the gateway (if enabled) and the caller's
    routes. `authenticate` checks the gateway's keys (default: `key_owner`; tests pass their own). Every
    handler, mounted apps' too, sees the client behind `TRUSTED_PROXIES` as `request.remote` (first, as
    a request can only be cloned before its body is read)."""
    trusted = TrustedProxies(settings.trusted_proxies)
    app = web.Application(middlewares=[behind_proxies(trusted), whole_body(limits)])
    app.router.add_get("/healthz", _health)
    if api_enabled(settings):
        app.add_subapp(API_PREFIX, build_api(core))
        app.add_subapp(DASHBOARD_PREFIX, build_dashboard(core))
        app.router.add_get(DASHBOARD_PREFIX, _to_dashboard)
    if settings.gateway:
        app.add_subapp(GATEWAY_PREFIX, build_gateway(core, authenticate or key_owner(core.services), limits))
    app.add_routes(list(extra_routes))
    return app


def api_enabled(settings: Settings) -> bool:
    """Only with a non-empty ADMIN_API_TOKEN: an API without a token would be open to anyone."""
    return settings.secret("ADMIN_API_TOKEN") is not None


def bind_host(settings: Settings) -> tuple[str, str]:
    """(address to listen on, why): all interfaces only when asked to or when Telegram must reach us."""
    if settings.host:
        return settings.host, "HOST is set"
    if settings.telegram_webhook_url:
        return "0.0.0.0", "TELEGRAM_WEBHOOK_URL is set and HOST is not, so Telegram can reach the webhook"
    return "127.0.0.1", "the default; set HOST to listen on other interfaces"


@asynccontextmanager
async def serve(
    core: Core,
    settings: Settings,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    *,
    host: str | None = None,
    port: int | None = None,
    limits: WebLimits = DEFAULT_LIMITS,
    authenticate: Authenticate | None = None,
) -> AsyncIterator[int]:
    """Listen on `host` (else as `bind_host` decides):PORT for the block's duration (port 0 picks a free
    one); yields the bound port."""
    quiet_accept_errors()
    why = "given by the caller"
    if host is None:
        host, why = bind_host(settings)
    app = web_app(core, settings, extra_routes, limits, authenticate=authenticate)
    async with listening(app, host, settings.port if port is None else port, limits) as url:
        bound = int(url.rsplit(":", 1)[1])
        log.info(
            "web server on %s port %s (%s)%s%s",
            host,
            bound,
            why,
            ", API at /api/v1 and dashboard at /dashboard/" if api_enabled(settings) else "",
            ", OpenAI-compatible gateway at /v1" if settings.gateway else "",
        )
        yield bound
