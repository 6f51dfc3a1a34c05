"""What the three fake model APIs share: every request recorded, each answered by the next scripted
`Script` (the fake's own kind) or by `default`, and answers stalled on `release` ended when the fake stops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from aiohttp import web

from tests.fakes.server import FakeServer


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def output_limit(self) -> int | None:
        for key in ("max_completion_tokens", "max_tokens"):
            if key in self.body:
                return int(self.body[key])
        return None


ScriptT = TypeVar("ScriptT")


class FakeModelServer(FakeServer, Generic[ScriptT]):
    def __init__(self, default: ScriptT) -> None:
        self.requests: list[Recorded] = []
        self.scripts: list[ScriptT] = []  # consumed in order; when empty, `default` answers
        self.default = default
        self.release = asyncio.Event()  # set when the fake stops: stalled answers end then
        self.stalled = 0  # answers that have sent all they will and now wait on `release`
        self.disconnects = 0  # stalled answers whose client hung up (the OpenAI fake watches for it)

    def then(self, *scripts: ScriptT) -> Self:
        self.scripts.extend(scripts)
        return self

    async def stopping(self) -> None:
        self.release.set()

    async def record(self, request: web.Request) -> dict[str, Any]:
        """Keep the request as a `Recorded`; returns its JSON body."""
        body: dict[str, Any] = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.path, dict(request.query), headers, body))
        return body

    def next_script(self) -> ScriptT:
        return self.scripts.pop(0) if self.scripts else self.default
