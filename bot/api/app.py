"""The owner's provisioning API: users, their limits, disable/enable, usage, gateway keys; under /api/v1.

Every route needs `Authorization: Bearer <ADMIN_API_TOKEN>` (compared in constant time); without it the
answer is 401 and nothing runs. Errors are JSON: {"error": {"code", "message"}}. The API goes through
`bot.owner` like the chat commands and the CLI, so it shares their parsing, rules and atomicity.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from bot.api.models import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    LimitInput,
    LimitSet,
    ModelUsageOut,
    UsageReport,
    UserList,
    UserOut,
    UserPatch,
)
from bot.api.openapi import openapi_document
from bot.commands.base import Services
from bot.ledger import AccountReport, KeyInfo, LinkRefused, OwnerProtected, TooManyKeys
from bot.money import nanos_to_usd
from bot.owner import CapChange, OwnerActions, parse_cap, parse_period
from bot.refusals import AmbiguousUser, BadArguments, UnknownKey, UnknownUser
from bot.wording import owner_protected, refusal

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)
SERVICES = web.AppKey("services", Services)
routes = web.RouteTableDef()  # each route is declared on its handler below
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# the only query parameters any route takes, by the path's last segment
QUERY_PARAMETERS = {"usage": {"user"}}


class ApiError(Exception):
    """A refusal of the API's own (bad body, owner protection); the middleware words it as JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def usd(nanos: int | None) -> str | None:
    """Nano-dollars as an exact decimal string: 250000000 → "0.25"."""
    if nanos is None:
        return None
    return format(nanos_to_usd(nanos).normalize(), "f")


def _error(status: int, code: str, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="capbot"'} if status == 401 else None
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _middleware(token: str | None) -> Middleware:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is None:
            return _error(404, "disabled", "The API is off: set ADMIN_API_TOKEN to turn it on.")
        if not _authorized(request, token):
            return _error(401, "unauthorized", "Send Authorization: Bearer <ADMIN_API_TOKEN>.")
        unknown = sorted(set(request.query) - QUERY_PARAMETERS.get(request.path.rsplit("/", 1)[-1], set()))
        if unknown:
            return _error(400, "bad_request", f"Unknown query parameter {unknown[0]!r}.")
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message)
        except (UnknownUser, AmbiguousUser) as exc:
            status = 404 if isinstance(exc, UnknownUser) else 409
            now = request.app[SERVICES].clock()
            return _error(status, "unknown_user" if status == 404 else "ambiguous_user", refusal(exc, now))
        except BadArguments as exc:
            return _error(400, "bad_request", exc.problem + ".")
        except (UnknownKey, TooManyKeys) as exc:
            status, code = (404, "unknown_key") if isinstance(exc, UnknownKey) else (409, "too_many_keys")
            return _error(status, code, refusal(exc, request.app[SERVICES].clock()))
        except LinkRefused as exc:  # /unlink: nothing linked, or answers in flight; the state, not the input
            now = request.app[SERVICES].clock()
            return _error(409, exc.reason, refusal(exc, now))
        except OwnerProtected as exc:  # in the API's words a block is a disable
            return _error(400, "owner", owner_protected(exc, "disabled") + ".")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _error(exc.status, "not_found" if exc.status == 404 else "http_error", exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response

    return guard


async def _body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested thousands deep
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "invalid_body", f"{where}: {first['msg']}") from None


def _limit(value: LimitInput, period: str | None, keep_period: bool) -> CapChange:
    if isinstance(value, bool):
        raise ApiError(400, "invalid_body", "limit: must be dollars, 'unlimited' or 'default'")
    # a JSON number through its shortest decimal text, written out: 1e-10 → "0.0000000001", so the
    # refusal names the real problem (too many decimals, too large) rather than the exponent
    text = value if isinstance(value, str) else format(Decimal(str(value)), "f")
    change = parse_cap(text, period, "")
    return CapChange(change.cap, change.unlimited, change.period, keep_period=keep_period)


def _out(report: AccountReport, services: Services) -> UserOut:
    return UserOut(
        user=report.user,
        identities=list(report.identities),
        username=report.username,
        period=report.period,
        usage=usd(report.spent) or "0",
        limit=usd(report.cap),
        limit_remaining=usd(report.remaining),
        limit_reset=report.resets_at,
        held=usd(report.held) or "0",
        disabled=report.blocked,
        owner=services.is_owner(report.user),
        custom=report.custom,
    )


def _standing(request: web.Request, report: AccountReport) -> web.Response:
    """A person's standing as every /users route answers it."""
    return _json(_out(report, request.app[SERVICES]))


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def _actions(request: web.Request) -> OwnerActions:
    return request.app[SERVICES].owner_actions


async def _user(request: web.Request) -> str:
    return await _actions(request).resolve(request.match_info["user"])


@routes.get("/users")
async def list_users(request: web.Request) -> web.Response:
    """GET /users: every account, biggest spender first; unlike /users in chat, not cut to the top ones."""
    found = await _actions(request).everyone()
    return _json(UserList(users=[_out(r, request.app[SERVICES]) for r in found]))


@routes.get("/users/{user}")
async def get_user(request: web.Request) -> web.Response:
    """GET /users/{user}: by any identity of the account, or an @username the bot has seen."""
    return _standing(request, await _actions(request).standing(await _user(request)))


@routes.put("/users/{user}/limit")
async def put_limit(request: web.Request) -> web.Response:
    """PUT /users/{user}/limit: the whole limit; a period left out is the default, as PUT replaces."""
    user = await _user(request)
    body = await _body(request, LimitSet)
    report = await _actions(request).set_cap(user, _limit(body.limit, body.period, keep_period=False))
    return _standing(request, report)


@routes.patch("/users/{user}")
async def patch_user(request: web.Request) -> web.Response:
    """PATCH /users/{user}: only the given fields change; all are checked before any is written."""
    actions = _actions(request)
    user = await _user(request)
    body = await _body(request, UserPatch)
    # validate everything before changing anything; the one check that needs the database (an owner can't
    # be disabled) is made by the first write, so a refusal still changes nothing
    change = None if body.limit is None else _limit(body.limit, body.period, keep_period=body.period is None)
    period = None if body.period is None else parse_period(body.period)
    report = await actions.standing(user)
    if body.disabled is not None:
        report = await actions.set_blocked(user, body.disabled)
    if change is not None:
        report = await actions.set_cap(user, change)
    elif body.period is not None:  # a new period, the same cap
        report = await actions.set_period(user, period)
    return _standing(request, report)


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    report = await _actions(request).set_blocked(await _user(request), disabled)
    return _standing(request, report)


@routes.post("/users/{user}/disable")
async def disable(request: web.Request) -> web.Response:
    """POST /users/{user}/disable: a block, refused for owners and whoever shares an owner's allowance."""
    return await _set_disabled(request, True)


@routes.post("/users/{user}/enable")
async def enable(request: web.Request) -> web.Response:
    """POST /users/{user}/enable: lifts a block; always allowed."""
    return await _set_disabled(request, False)


@routes.post("/users/{user}/unlink")
async def unlink(request: web.Request) -> web.Response:
    """POST /users/{user}/unlink: split this identity off the allowance it shares (the account itself:
    every identity linked into it); spend stays with the account, the split identity starts afresh."""
    user = await _user(request)
    await _actions(request).unlink(user)
    return _standing(request, await _actions(request).standing(user))


@routes.delete("/users/{user}")
async def delete_user(request: web.Request) -> web.Response:
    """Forget the owner's settings for a person (cap, period, block, model); charges are kept."""
    return _standing(request, await _actions(request).reset(await _user(request)))


@routes.get("/usage")
async def usage(request: web.Request) -> web.Response:
    """GET /usage[?user=]: the same numbers as /usage in chat, with exact decimal dollar amounts."""
    actions = _actions(request)
    names = request.query.getall("user", [])
    if len(names) > 1:
        raise ApiError(400, "bad_request", "Name at most one user.")
    name = names[0] if names else None
    # "?user=" names nobody: 404, not everyone
    who = await actions.resolve(name) if name is not None else None
    found = await actions.usage(who)
    models = [
        ModelUsageOut(**(asdict(r) | {"cost": usd(r.cost) or "0", "absorbed": usd(r.absorbed) or "0"}))
        for r in found.rows
    ]
    total = usd(sum(r.cost for r in found.rows)) or "0"
    absorbed = usd(sum(r.absorbed for r in found.rows)) or "0"
    report = UsageReport(
        user=found.user, period=found.period, since=found.since, models=models, total=total, absorbed=absorbed
    )
    return _json(report)


def _key(key: KeyInfo) -> KeyOut:
    return KeyOut(**asdict(key))


@routes.get("/users/{user}/keys")
async def list_keys(request: web.Request) -> web.Response:
    """GET /users/{user}/keys: the live keys spending this person's allowance (any identity of it)."""
    found = await _actions(request).keys(await _user(request))
    return _json(KeyList(keys=[_key(k) for k in found]))


@routes.post("/users/{user}/keys")
async def create_key(request: web.Request) -> web.Response:
    """POST /users/{user}/keys: a new key, its secret in this answer only (201); stored as a hash."""
    user = await _user(request)
    body = await _body(request, KeyCreate)
    issued = await _actions(request).create_key(user, body.name)
    return _json(KeyCreated(**asdict(issued), last_used_at=None, revoked_at=None), status=201)


@routes.delete("/users/{user}/keys/{key}")
async def revoke_key(request: web.Request) -> web.Response:
    """DELETE /users/{user}/keys/{key}: by id or shown prefix; the key stops working at once."""
    user = await _user(request)
    return _json(_key(await _actions(request).revoke_key(user, request.match_info["key"])))


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json: behind the token like every route, as it describes the owner's API."""
    return web.json_response(openapi_document())


def build_api(core: Core) -> web.Application:
    """The API as an aiohttp application, meant to be mounted with `app.add_subapp("/api/v1", ...)`.

    Without ADMIN_API_TOKEN every route answers 404 "disabled" (and `bot.web` does not mount it).
    """
    services = core.services
    app = web.Application(middlewares=[_middleware(services.settings.secret("ADMIN_API_TOKEN"))])
    app[SERVICES] = services
    app.add_routes(routes)
    return app
