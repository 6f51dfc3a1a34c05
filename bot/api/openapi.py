"""The API's OpenAPI 3.1 document, built from the same pydantic models that validate and serialise."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.api.models import (
    ErrorOut,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    LimitSet,
    UsageReport,
    UserList,
    UserOut,
    UserPatch,
)

_REF = "#/components/schemas/{model}"


def _in_path(name: str, description: str, pattern: str) -> dict[str, Any]:
    """A required path parameter, described for clients and constrained for schema-driven tests."""
    schema = {"type": "string", "pattern": pattern}
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


_USER = _in_path(
    "user", "platform:id (e.g. telegram:12345) or a known @username", r"^(@\S+|[A-Za-z0-9_.-]+:\S+)$"
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _op(
    summary: str,
    ok: type[BaseModel],
    *,
    user: bool = True,
    body: type[BaseModel] | None = None,
    query: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _json(ok, "OK"),
        "401": _json(ErrorOut, "Missing or wrong bearer token; nothing changed"),
    }
    parameters = [*([_USER] if user else []), *(query or [])]
    if parameters:
        responses["404"] = _json(ErrorOut, "Unknown user")
        responses["409"] = _json(ErrorOut, "The @username matches several identities")
    if body is not None or parameters:
        responses["400"] = _json(ErrorOut, "Malformed JSON or invalid input; nothing changed")
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _unlink() -> dict[str, Any]:
    op = _op(
        "Split this identity off the allowance it shares (the account itself: every identity linked "
        "into it); spend stays with the account, the identity split off starts afresh with its own settings",
        UserOut,
    )
    # 409 also answers a split the ledger refuses: nothing linked (`not_linked`), answers in flight
    op["responses"]["409"] = _json(
        ErrorOut,
        "The @username matches several identities, the identity is not linked, or answers are in flight",
    )
    return op


_KEY = _in_path(
    "key",
    "the key's id, or its shown prefix (capbot-xxxxx)",
    r"^([0-9]{1,18}|capbot-[A-Za-z0-9_-]{1,60})$",
)


def _keys() -> dict[str, Any]:
    """/users/{user}/keys: list (200) and create (201, the secret shown once)."""
    create = _op(
        "Make a gateway key for this person; its secret is in this answer only", KeyCreated, body=KeyCreate
    )
    create["responses"]["201"] = create["responses"].pop("200")
    create["responses"]["201"]["description"] = "Created; the secret is shown only here"
    create["responses"]["409"] = _json(
        ErrorOut, "The @username matches several identities, or the person has too many live keys"
    )
    return {"get": _op("The live keys spending this person's allowance", KeyList), "post": create}


def _revoke_key() -> dict[str, Any]:
    op = _op("Revoke one key (by id or shown prefix); it stops working at once", KeyOut)
    op["parameters"].append(_KEY)
    op["responses"]["404"] = _json(ErrorOut, "Unknown user, or no such live key of theirs")
    return op


@cache
def openapi_document() -> dict[str, Any]:
    """The document served at /api/v1/openapi.json (paths are relative to the /api/v1 server)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (LimitSet, "validation"),
        (UserPatch, "validation"),
        (UserOut, "serialization"),
        (UserList, "serialization"),
        (UsageReport, "serialization"),
        (KeyCreate, "validation"),
        (KeyCreated, "serialization"),
        (KeyList, "serialization"),
        (KeyOut, "serialization"),
        (ErrorOut, "serialization"),
    ]
    _, schemas = models_json_schema(models, ref_template=_REF)
    usage_user = {**_USER, "in": "query", "required": False, "description": "one person (default: everyone)"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "capbot provisioning API",
            "version": "1",
            "description": "Per-person dollar limits for the people in the owner's chats. "
            "Amounts are decimal strings of US dollars.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas.get("$defs", {}),
        },
        "paths": {
            "/users": {"get": _op("Every account, biggest spender this period first", UserList, user=False)},
            "/users/{user}": {
                "get": _op("One person's usage, limit, remaining, reset and status", UserOut),
                "patch": _op(
                    "Change the limit, the period or disabled; only given fields", UserOut, body=UserPatch
                ),
                "delete": _op("Forget the owner's settings for this person; charges are kept", UserOut),
            },
            "/users/{user}/limit": {"put": _op("Set the limit and period", UserOut, body=LimitSet)},
            "/users/{user}/disable": {"post": _op("Disable (block) this person", UserOut)},
            "/users/{user}/enable": {"post": _op("Enable (unblock) this person", UserOut)},
            "/users/{user}/unlink": {"post": _unlink()},
            "/users/{user}/keys": _keys(),
            "/users/{user}/keys/{key}": {"delete": _revoke_key()},
            "/usage": {
                "get": _op("Usage per model this period", UsageReport, user=False, query=[usage_user])
            },
        },
    }
