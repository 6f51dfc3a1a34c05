"""A fake Discord: the HTTP API and the gateway on 127.0.0.1, for the real discord.py client.

It answers what a bot needs to log in, sync slash commands and answer (interaction callbacks, webhook
edits and follow-ups, channel messages), runs the gateway handshake (HELLO → IDENTIFY → READY →
GUILD_CREATE, heartbeat ACKs), and lets a test dispatch MESSAGE_CREATE and INTERACTION_CREATE. Every
HTTP request is recorded as a `Call`. JSON answers carry `Content-Type: application/json` exactly:
discord.py parses nothing else.

Several gateway sockets may be open at once, one per shard: each IDENTIFY's `shard: [id, count]` says
which (none means `[0, 1]`, a plain client), and as Discord does, a shard's READY and GUILD_CREATEs carry
only the guilds it holds, `(guild_id >> 22) % count`, and each guild's events go to that shard alone
(events outside a guild, such as DMs, to shard 0).

Payload factories (`user`, `slash`, `autocomplete`, `message`, `attachment`) build events in Discord's
shapes, so a test reads as "alice runs /ask hello in #general" (with a file: `slash(..., files=...)`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.doubles import wait_until
from tests.fakes.server import FakeServer

API = "/api/v10"
APP_ID = 900_000_000_000_000_001  # a bot user's id equals its application's id
GUILD_ID = 910_000_000_000_000_001
CHANNEL_ID = 920_000_000_000_000_001
OWNER_ID = 930_000_000_000_000_001
BOT_ROLE_ID = 950_000_000_000_000_001  # the role Discord makes for a bot when it joins a guild
EPHEMERAL = 1 << 6
MESSAGE_CONTENT_INTENT = 1 << 15
JSON = {"Content-Type": "application/json"}  # exactly: discord.py parses JSON only then
TIMESTAMP = "2026-11-22T12:00:00.000000+00:00"
TOKEN = "OTAwMDAwMDAwMDAwMDAwMDAx.FakeTs.fake-discord-token_for-tests"  # the Developer Portal's shape
GUILD_STEP = 1 << 22  # guild ids this far apart fall on consecutive shards: the shard is (id >> 22) % count
DM_BASE = 960_000_000_000_000_000  # a DM channel the bot opens with user N has id DM_BASE + N
MESSAGE_LIMIT = 2000  # Discord counts code points: https://github.com/discord/discord-api-docs/issues/1315


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: int) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _check_length(body: dict[str, Any]) -> None:
    """Refuse content over Discord's limit as Discord does (400, Invalid Form Body)."""
    if len(body.get("content") or "") > MESSAGE_LIMIT:
        raise ApiError(400, f"Invalid Form Body: content must be {MESSAGE_LIMIT} or fewer in length.", 50035)


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # without the /api/v10 prefix, e.g. "/webhooks/1/tok/messages/@original"
    query: dict[str, str]
    body: Any  # parsed JSON, or None

    @property
    def content(self) -> str | None:
        return self.body.get("content") if isinstance(self.body, dict) else None

    @property
    def flags(self) -> int:
        if not isinstance(self.body, dict):
            return 0
        data = self.body.get("data") if "type" in self.body and "data" in self.body else self.body
        return int((data or {}).get("flags") or 0)


@dataclass
class FakeDiscord(FakeServer):
    """One fake Discord. `async with FakeDiscord() as fake:` serves it; `fake.api_base` and
    `fake.gateway_url` are what DISCORD_API_BASE_URL and DISCORD_GATEWAY_URL point at."""

    refuse_message_content: bool = False  # close with 4014 like Discord when the intent is not enabled
    token: str | None = None  # when set, any other bot token gets 401 Unauthorized
    calls: list[Call] = field(default_factory=list)
    identifies: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[int | None, list[dict[str, Any]]] = field(default_factory=dict)  # guild id (None: global)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # every message the bot made, by id
    originals: dict[str, int] = field(default_factory=dict)  # interaction token → original response id
    followup_ids: dict[str, list[int]] = field(default_factory=dict)  # interaction token → follow-up ids
    tokens: list[str] = field(default_factory=list)  # every interaction token handed out, in order
    expired: set[str] = field(default_factory=set)  # interaction tokens past Discord's 15 minutes
    # (method, path suffix) → retry_after seconds: the next such call answers 429 once, as Discord does
    rate_limit_once: dict[tuple[str, str], float] = field(default_factory=dict)
    closed_dms: set[int] = field(default_factory=set)  # users whose DMs refuse the bot (403, code 50007)
    guild_ids: list[int] = field(default_factory=lambda: [GUILD_ID])  # the guilds the bot is in
    # attachments people send, served at their `url` like Discord's CDN (see `attachment`)
    cdn: dict[str, bytes] = field(default_factory=dict)  # path → bytes
    downloads: list[str] = field(default_factory=list)  # paths fetched, in order
    failing_downloads: set[str] = field(default_factory=set)  # paths that answer 500

    def __post_init__(self) -> None:
        self._ids = itertools.count(1_000_000_000_000_000_000)
        self._sequences: dict[int, itertools.count[int]] = {}  # per shard: each socket numbers its events
        self._changed = asyncio.Condition()
        self._sockets: dict[int, web.WebSocketResponse] = {}  # shard id → its latest identified socket
        self._shard_count = 1  # as the last IDENTIFY said
        self.bot = self.user(APP_ID, "capbot", bot=True)

    # ------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{path:.+}", self._serve_attachment)
        app.router.add_route("*", API + "/{tail:.*}", self._api)
        return app

    async def stopping(self) -> None:
        for socket in self._sockets.values():
            if not socket.closed:
                await socket.close()

    @property
    def api_base(self) -> str:
        return f"{self.root}{API}"

    @property
    def gateway_url(self) -> str:
        return f"{self.root.replace('http://', 'ws://', 1)}/gateway"

    # ------------------------------------------------------------------ waiting without timings

    async def wait_for(
        self, predicate: Callable[[], bool], what: str = "condition", limit: float = 15
    ) -> None:
        """Wait until `predicate()` holds; checked whenever the fake records something."""
        await wait_until(self._changed, predicate, f"fake Discord never saw: {what}", limit)

    async def connected(self, shards: int = 1, limit: float = 15) -> None:
        """Wait until `shards` gateway sockets have identified (one for a plain client)."""
        await self.wait_for(lambda: len(self._sockets) >= shards, f"IDENTIFY on {shards} socket(s)", limit)

    def shard_of(self, guild_id: int | None) -> int:
        """The shard Discord sends a guild's events to; shard 0 for events outside any guild (DMs)."""
        return 0 if guild_id is None else (guild_id >> 22) % self._shard_count

    def channel_of(self, guild_id: int) -> int:
        """Each guild's one text channel, #general (CHANNEL_ID in GUILD_ID)."""
        return CHANNEL_ID + (guild_id - GUILD_ID)

    def _guild_with(self, channel: int) -> int | None:
        return next((g for g in self.guild_ids if self.channel_of(g) == channel), None)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}, "s": None, "t": None})
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            if payload["op"] == 1:  # heartbeat
                await socket.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif payload["op"] == 2:  # identify
                self.identifies.append(payload["d"])
                if self.refuse_message_content and int(payload["d"]["intents"]) & MESSAGE_CONTENT_INTENT:
                    await socket.close(code=4014, message=b"Disallowed intent(s).")
                    await self._notify()
                    break
                shard, self._shard_count = payload["d"].get("shard", [0, 1])
                self._sockets[shard] = socket
                held = [g for g in self.guild_ids if self.shard_of(g) == shard]
                await self._send("READY", self._ready(shard, held), shard)
                for guild_id in held:
                    await self._send("GUILD_CREATE", self.guild(guild_id), shard)
                await self._notify()
        return socket

    async def _send(self, event: str, data: dict[str, Any], shard: int) -> None:
        sequence = self._sequences.setdefault(shard, itertools.count(1))
        await self._sockets[shard].send_json({"op": 0, "t": event, "s": next(sequence), "d": data})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one gateway event (MESSAGE_CREATE, INTERACTION_CREATE, ...) to the shard holding its guild,
        once that shard has connected."""
        guild_id = data.get("guild_id")
        await self.connected()
        shard = self.shard_of(int(guild_id) if guild_id else None)
        await self.wait_for(lambda: shard in self._sockets, f"IDENTIFY of shard {shard}")
        await self._send(event, data, shard)

    def _ready(self, shard: int, guild_ids: list[int]) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot,
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": f"fake-session-{shard}",
            "resume_gateway_url": self.gateway_url,
            "shard": [shard, self._shard_count],
            "application": {"id": str(APP_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }

    # ------------------------------------------------------------------ HTTP API

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body else None
        call = Call(request.method, path, dict(request.query), body)
        self.calls.append(call)
        if self.token is not None and request.headers.get("Authorization") != f"Bot {self.token}":
            await self._notify()
            return web.Response(status=401, body=b'{"message": "401: Unauthorized", "code": 0}', headers=JSON)
        limited = self._rate_limited(call)
        if limited is not None:
            await self._notify()
            return limited
        try:
            result = self._route(call)
        except ApiError as error:
            body = {"message": error.message, "code": error.code}
            return web.Response(status=error.status, body=json.dumps(body).encode(), headers=JSON)
        finally:
            await self._notify()
        if result is None:
            return web.Response(status=204)
        return web.Response(body=json.dumps(result).encode(), headers=JSON)

    def _rate_limited(self, call: Call) -> web.Response | None:
        for method, suffix in list(self.rate_limit_once):
            if call.method == method and call.path.endswith(suffix):
                retry_after = self.rate_limit_once.pop((method, suffix))
                body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
                # Discord's own 429s come through its proxy with a Via header; discord.py's webhook client
                # treats a 429 without one as a Cloudflare ban and raises instead of waiting.
                headers = JSON | {"Via": "1.1 google", "X-RateLimit-Scope": "user"}
                return web.Response(status=429, body=json.dumps(body).encode(), headers=headers)
        return None

    def _route(self, call: Call) -> Any:
        parts = call.path.strip("/").split("/")
        method = call.method
        if method == "GET" and call.path == "/users/@me":
            return self.bot
        if method == "POST" and call.path == "/users/@me/channels":  # open a DM with a user
            recipient = int(call.body["recipient_id"])
            return {
                "id": str(DM_BASE + recipient),
                "type": 1,
                "recipients": [self.user(recipient, "someone")],
            }
        if method == "GET" and call.path in ("/applications/@me", "/oauth2/applications/@me"):
            return self._application()
        if method == "GET" and call.path in ("/gateway", "/gateway/bot"):
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            guild = int(parts[3]) if len(parts) == 5 else None
            self.commands[guild] = [self._command(c, guild) for c in call.body]
            return self.commands[guild]
        if method == "POST" and parts[0] == "interactions":
            return self._callback(call, int(parts[1]))
        if parts[0] == "webhooks":
            return self._webhook(call, parts[2], parts[4] if len(parts) > 4 else None)
        if parts[0] == "channels" and parts[2] == "messages":
            channel = int(parts[1])
            if method == "POST":
                if channel - DM_BASE in self.closed_dms:
                    raise ApiError(403, "Cannot send messages to this user", 50007)
                return self._new_message(channel, call.body)
            if method == "PATCH":
                return self._edit(int(parts[3]), call.body)
        if parts[0] == "channels" and parts[2] == "typing":
            return None
        raise ApiError(404, "404: Not Found", 0)

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "capbot",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user(OWNER_ID, "owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "interactions_endpoint_url": None,
        }

    def _command(self, command: dict[str, Any], guild: int | None) -> dict[str, Any]:
        made = {**command, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1"}
        if guild is not None:
            made["guild_id"] = str(guild)
        return made

    def _callback(self, call: Call, interaction_id: int) -> dict[str, Any]:
        kind = call.body["type"]
        ephemeral = bool(call.flags & EPHEMERAL)
        return {
            "interaction": {
                "id": str(interaction_id),
                "type": 2,
                "response_message_id": None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }

    def _webhook(self, call: Call, token: str, message: str | None) -> Any:
        if token in self.expired:
            raise ApiError(401, "Invalid Webhook Token", 50027)
        if call.method == "DELETE":
            if message == "@original":
                self.messages.pop(self.originals.pop(token, 0), None)
            return None
        if call.method == "POST":  # a follow-up
            made = self._new_message(CHANNEL_ID, call.body, webhook=True)
            self.followup_ids.setdefault(token, []).append(int(made["id"]))
            return made
        if message == "@original" and token not in self.originals:  # completes the deferred response
            made = self._new_message(CHANNEL_ID, call.body, webhook=True)
            self.originals[token] = int(made["id"])
            return made
        return self._edit(self.originals[token] if message == "@original" else int(message or 0), call.body)

    def _new_message(self, channel: int, body: dict[str, Any], *, webhook: bool = False) -> dict[str, Any]:
        _check_length(body)
        made = self.message(self.bot, body.get("content") or "", channel=channel)
        made["flags"] = int(body.get("flags") or 0)
        if body.get("components"):
            made["components"] = body["components"]
        if webhook:
            made["webhook_id"] = str(APP_ID)
        self.messages[int(made["id"])] = made
        return made

    def _edit(self, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        _check_length(body)
        found = self.messages.get(message_id)
        if found is None:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Unknown Message", "code": 10008}),
                content_type="application/json",
            )
        if "content" in body:
            found["content"] = body["content"]
        if "components" in body:  # [] removes them
            found["components"] = body["components"]
        found["edited_timestamp"] = TIMESTAMP
        return found

    # ------------------------------------------------------------------ what the bot did

    def expire_tokens(self) -> None:
        """15 minutes pass: every interaction token handed out so far answers 401, code 50027."""
        self.expired.update(self.tokens)

    def for_token(self, token: str) -> list[Call]:
        """Callbacks, edits and follow-ups for one interaction, in order."""
        return [c for c in self.calls if f"/{token}/" in c.path + "/"]

    def callbacks(self, token: str) -> list[Call]:
        return [c for c in self.for_token(token) if c.path.startswith("/interactions/")]

    def original_edits(self, token: str) -> list[Call]:
        return [c for c in self.for_token(token) if c.method == "PATCH" and c.path.endswith("/@original")]

    def followups(self, token: str) -> list[Call]:
        return [c for c in self.for_token(token) if c.method == "POST" and c.path.startswith("/webhooks/")]

    def shown(self, token: str) -> list[str]:
        """What the interaction's messages show now: the original response, then each follow-up."""
        ids = [self.originals.get(token, 0), *self.followup_ids.get(token, [])]
        return [self.messages[i]["content"] for i in ids if i in self.messages]

    def channel_posts(self, channel: int = CHANNEL_ID) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path == f"/channels/{channel}/messages"]

    def posted(self, channel: int = CHANNEL_ID) -> list[str]:
        """What the messages the bot posted in `channel` itself (not through an interaction) show now."""
        return [
            m["content"]
            for m in self.messages.values()
            if m["channel_id"] == str(channel) and "webhook_id" not in m
        ]

    # ------------------------------------------------------------------ payload factories

    def user(self, user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name,
            "global_name": name.title(),
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def member(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"user": user, "roles": [], "joined_at": TIMESTAMP, "deaf": False, "mute": False, "flags": 0}

    def guild(self, guild_id: int = GUILD_ID) -> dict[str, Any]:
        """A GUILD_CREATE payload: the guild, its @everyone and bot roles, its #general, the bot as member."""
        return {
            "id": str(guild_id),
            "name": "Test guild",
            "icon": None,
            "owner_id": str(OWNER_ID),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_flags": 0,
            "preferred_locale": "en-US",
            "features": [],
            "roles": [
                {
                    "id": str(guild_id),
                    "name": "@everyone",
                    "permissions": str((1 << 41) - 1),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                },
                {
                    "id": str(BOT_ROLE_ID + (guild_id - GUILD_ID)),
                    "name": "capbot",
                    "permissions": "0",
                    "position": 1,
                    "color": 0,
                    "hoist": False,
                    "managed": True,
                    "mentionable": False,
                    "flags": 0,
                    "tags": {"bot_id": str(APP_ID)},
                },
            ],
            "emojis": [],
            "stickers": [],
            "channels": [
                {
                    "id": str(self.channel_of(guild_id)),
                    "type": 0,
                    "name": "general",
                    "position": 0,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                }
            ],
            "threads": [],
            "members": [self.member(self.bot)],
            "member_count": 3,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "large": False,
            "unavailable": False,
            "joined_at": TIMESTAMP,
        }

    def message(
        self,
        author: dict[str, Any],
        content: str,
        *,
        channel: int = CHANNEL_ID,
        guild: bool = True,
        mentions: list[dict[str, Any]] | None = None,
        replying_to: dict[str, Any] | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        made: dict[str, Any] = {
            "id": str(next(self._ids)),
            "channel_id": str(channel),
            "author": author,
            "content": content,
            "timestamp": TIMESTAMP,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions or [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        guild_id = self._guild_with(channel) if guild else None
        if guild_id is not None:
            made["guild_id"] = str(guild_id)
            made["member"] = {k: v for k, v in self.member(author).items() if k != "user"}
        if replying_to is not None:
            made["type"] = 19
            made["message_reference"] = {
                "type": 0,
                "message_id": replying_to["id"],
                "channel_id": replying_to["channel_id"],
                "guild_id": replying_to.get("guild_id"),
            }
            made["referenced_message"] = replying_to
        return made

    def attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None,
        *,
        size: int | None = None,
        voice_seconds: float | None = None,
    ) -> dict[str, Any]:
        """An attachment for `message(attachments=[...])`, its bytes served at its `url`. `size` declares
        another size than the bytes' (a file over a limit); `voice_seconds` makes it a voice message."""
        attachment_id = str(next(self._ids))
        path = f"{CHANNEL_ID}/{attachment_id}/{filename}"
        self.cdn[path] = data
        made: dict[str, Any] = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data) if size is None else size,
            "url": f"{self.root}/attachments/{path}",
            "proxy_url": f"{self.root}/attachments/{path}",
        }
        if content_type is not None:
            made["content_type"] = content_type
        if voice_seconds is not None:
            made |= {"duration_secs": voice_seconds, "waveform": "AAAA", "flags": 0}
        return made

    def fail_download(self, attachment: dict[str, Any]) -> None:
        """Every download of this attachment answers 500."""
        self.failing_downloads.add(attachment["url"].split("/attachments/", 1)[1])

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.downloads.append(path)
        await self._notify()
        if path in self.failing_downloads:
            return web.Response(status=500, text="Internal Server Error")
        if path not in self.cdn:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.cdn[path], content_type="application/octet-stream")

    def slash(
        self,
        user: dict[str, Any],
        name: str,
        options: dict[str, str] | None = None,
        *,
        files: dict[str, dict[str, Any]] | None = None,
        dm_channel: int | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for `/name option=value ...` in #general (or a DM channel), from a
        client in `locale`. `files`: attachment options, name → `attachment(...)`, as Discord sends an
        uploaded file: the option's value is the attachment's id, the attachment itself is in
        `data.resolved.attachments` under that id (marked ephemeral: the upload belongs to the command)."""
        data_options: list[dict[str, Any]] = [
            {"name": k, "type": 3, "value": v} for k, v in (options or {}).items()
        ]
        data_options += [{"name": k, "type": 11, "value": a["id"]} for k, a in (files or {}).items()]
        payload = self._interaction(2, user, name, data_options, dm_channel, locale)
        if files:
            resolved = {a["id"]: a | {"ephemeral": True} for a in files.values()}
            payload["data"]["resolved"] = {"attachments": resolved}
        return payload

    def press(self, user: dict[str, Any], message_id: int, custom_id: str) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for a press on a button of one of the bot's messages in #general."""
        interaction_id = next(self._ids)
        self.tokens.append(f"token-{interaction_id}")
        return {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": 3,
            "token": f"token-{interaction_id}",
            "version": 1,
            "data": {"custom_id": custom_id, "component_type": 2},
            "message": self.messages[message_id],
            "locale": "en-US",
            "app_permissions": str((1 << 41) - 1),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        } | self._in_general(user, GUILD_ID)

    def autocomplete(self, user: dict[str, Any], name: str, option: str, typed: str) -> dict[str, Any]:
        data_options = [{"name": option, "type": 3, "value": typed, "focused": True}]
        return self._interaction(4, user, name, data_options, None)

    def _interaction(
        self,
        kind: int,
        user: dict[str, Any],
        name: str,
        options: list[dict[str, Any]],
        dm_channel: int | None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        guild = None if dm_channel is not None else GUILD_ID
        command = next(
            c for c in self.commands.get(guild, []) + self.commands.get(None, []) if c["name"] == name
        )
        interaction_id = next(self._ids)
        self.tokens.append(f"token-{interaction_id}")
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": options}
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": kind,
            "token": f"token-{interaction_id}",
            "version": 1,
            "data": data,
            "locale": locale,
            "app_permissions": str((1 << 41) - 1),
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild is None:
            payload |= {
                "channel_id": str(dm_channel),
                "channel": {"id": str(dm_channel), "type": 1, "recipients": [user]},
                "user": user,
                "context": 1,
                "authorizing_integration_owners": {"0": str(APP_ID)},
            }
        else:
            if "guild_id" in command:
                data["guild_id"] = command["guild_id"]
            payload |= self._in_general(user, guild)
        return payload

    def _in_general(self, user: dict[str, Any], guild: int) -> dict[str, Any]:
        """An interaction's fields for `user` in #general of `guild`."""
        return {
            "guild_id": str(guild),
            "guild_locale": "en-US",
            "channel_id": str(CHANNEL_ID),
            "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(guild), "name": "general"},
            "member": self.member(user) | {"permissions": "0"},
            "context": 0,
            "authorizing_integration_owners": {"0": str(guild)},
        }
