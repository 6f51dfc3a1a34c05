"""What keeps the web port answering under abuse: deadlines, a connection cap and quiet logs.

aiohttp waits for a request's headers and body as long as the client likes (its keep-alive timer, where it
runs at all, is an hour), so 900 half-sent requests once held 900 sockets for minutes, and a flood that
used up the process's file descriptors left nothing for the connections to providers. Here:

- `ConnectionGuard` sits between the listening socket and aiohttp: the request line and headers must
  arrive within `head_timeout` of connecting (else "408" and close), and at most `max_connections` are
  open at once. When full, the oldest connection that has not yet sent a request head is dropped to make
  room (a slowloris can't lock out a real client); if every connection is busy with a request, the
  newcomer is dropped instead. Either way at once: an excess socket never waits.
- `whole_body` (a middleware) reads the body within `body_timeout` before any handler sees the request;
  handlers then read it from memory. An application marked `READS_OWN_BODY` (the gateway, whose bodies
  carry images) reads its own with `read_body`, within the same deadline, after it has checked the key.
- aiohttp's own `keepalive_timeout` closes a kept-alive connection idle for `idle_timeout`.
- `disconnected(request)` is done once the request's client has gone, for a handler busy waiting on
  something else (a model's answer): aiohttp itself only notices at the handler's next write.
- `RepeatThrottle` lets one line of a repeated complaint through per interval, with a count of the ones
  held back: asyncio logs "socket.accept() out of system resource" on every retry (once 81 MB a minute).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("bot.web")
TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def default_connection_cap() -> int:
    """A quarter of the file descriptors the process may open (at most 1000): the rest stay free for
    providers, the database and the chat platforms, however many clients knock."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):  # no `resource` on Windows
        return 256
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(16, min(1000, soft // 4))


@dataclass(frozen=True)
class WebLimits:
    """Deadlines (seconds) and the connection cap of one web server; tests pass small ones."""

    head_timeout: float = 10.0  # request line and headers, from the moment of connecting
    body_timeout: float = 30.0  # the whole body, once the headers are in
    idle_timeout: float = 30.0  # a kept-alive connection waiting for its next request
    max_connections: int = field(default_factory=default_connection_cap)
    backlog: int = 128  # connections the kernel queues before we accept them
    lingering_time: float = 2.0  # reading (and dropping) an unread body after answering early


DEFAULT_LIMITS = WebLimits()


class RepeatThrottle:
    """Lets a repeated message through once per `interval` seconds, counting the ones held back."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self._clock = interval, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None: hold this one back. A number: log it, saying how many were held back since the last."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def note(self, held: int) -> str:
        return f" ({held} more like this in the last {self.interval:.0f} s not logged)" if held else ""


class ThrottledLines(logging.Filter):
    """A logger filter: records whose message starts with one of `prefixes` go through `RepeatThrottle`."""

    def __init__(self, prefixes: tuple[str, ...], throttle: RepeatThrottle | None = None) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.throttle = throttle or RepeatThrottle()

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        key = next((p for p in self.prefixes if message.startswith(p)), None)
        if key is None:
            return True
        held = self.throttle.allow(key)
        if held is None:
            return False
        if held:
            record.msg, record.args = record.getMessage() + self.throttle.note(held), None
        return True


# asyncio's loop logs this through its exception handler each time accept() fails for lack of descriptors
ACCEPT_ERRORS = ThrottledLines(("socket.accept() out of system resource",))


def quiet_accept_errors() -> None:
    """Throttle asyncio's accept-error lines (idempotent: a logger keeps one copy of a filter)."""
    logging.getLogger("asyncio").addFilter(ACCEPT_ERRORS)


class ConnectionGuard:
    """The protocol factory handed to `loop.create_server`: wraps aiohttp's and enforces `WebLimits`."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], limits: WebLimits) -> None:
        self.factory, self.limits = factory, limits
        self.open = 0
        self.waiting: dict[_Guarded, None] = {}  # still sending their first request head, oldest first
        self.throttle = RepeatThrottle()

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def admit(self, newcomer: _Guarded) -> bool:
        """Make room for a new connection if the cap allows it; False: drop the newcomer."""
        if self.open >= self.limits.max_connections:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                self._complain("dropping new connections")
                return False
            self._complain("dropping the oldest connection that has not sent a request")
            oldest.drop()
        self.open += 1
        return True

    def _complain(self, doing: str) -> None:
        held = self.throttle.allow(doing)
        if held is not None:
            log.warning(
                "web: %d connections open, the most allowed; %s%s",
                self.limits.max_connections,
                doing,
                self.throttle.note(held),
            )


# Each guarded connection's transport → a future done when it is lost (see `disconnected`).
_LOST: dict[asyncio.BaseTransport, asyncio.Future[None]] = {}


def disconnected(request: web.BaseRequest) -> asyncio.Future[None]:
    """Done once the client of `request` is gone (at once if it already is); never done for a server that
    is not a `GuardedSite`, where the handler learns it at its next write as usual."""
    transport = request.transport
    if transport is None:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gone.set_result(None)
        return gone
    return _LOST.get(transport) or asyncio.get_running_loop().create_future()


class _Guarded(asyncio.Protocol):
    """One connection: counted, timed until its request head arrives, then aiohttp's alone."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: Any = None  # aiohttp's RequestHandler, made only for an admitted connection
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.tail = b""  # the last bytes seen, to find the head's end across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self.guard.admit(self):
            transport.abort()
            return
        self.transport = transport
        self.guard.waiting[self] = None
        loop = asyncio.get_running_loop()
        _LOST[transport] = loop.create_future()
        self.deadline = loop.call_later(self.guard.limits.head_timeout, self._too_slow)
        self.inner = self.guard.factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.deadline is not None:
            seen = self.tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._head_arrived()
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def _head_arrived(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self.guard.waiting.pop(self, None)

    def _forget(self) -> None:
        """Stop counting this connection (once, whichever of drop/timeout/loss comes first)."""
        self._head_arrived()
        if self.transport is not None:
            lost = _LOST.pop(self.transport, None)
            if lost is not None and not lost.done():
                lost.set_result(None)
            self.transport = None
            self.guard.open -= 1

    def _too_slow(self) -> None:
        self.deadline = None
        transport = self.transport
        self._forget()
        if transport is not None:
            transport.write(TIMEOUT_408)  # nothing else was written yet, so this fits the socket's buffer
            transport.close()

    def drop(self) -> None:
        transport = self.transport
        self._forget()
        if transport is not None:
            transport.abort()


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite, with the `ConnectionGuard` between the socket and aiohttp's protocol."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: WebLimits) -> None:
        super().__init__(runner, backlog=limits.backlog)
        self._host, self._port, self._limits = host, port, limits

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = ConnectionGuard(server, self._limits)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(guard, self._host, self._port, backlog=self._backlog)


# Set (to True) on a sub-application whose handlers read their bodies themselves (`read_body`), with a size
# limit of their own and only once they know who is asking: the gateway's requests may carry megabytes of
# images, which nobody without a key should make the server hold.
READS_OWN_BODY = web.AppKey("reads_own_body", bool)


def whole_body(limits: WebLimits) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: the body is read in full within `body_timeout` (and within aiohttp's size limit)
    before the handler runs, so no handler waits on a client that sends a byte a minute; except in an
    application marked `READS_OWN_BODY`, whose handlers do so with `read_body`."""

    @web.middleware
    async def read_first(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.body_exists and not any(READS_OWN_BODY in app for app in request.match_info.apps):
            try:
                async with asyncio.timeout(limits.body_timeout):
                    await request.read()  # kept by aiohttp: the handler's read()/json() use this copy
            except TimeoutError:
                response = web.Response(status=408, text="The request body did not arrive in time.\n")
                response.force_close()
                return response
        return await handler(request)

    return read_first


async def read_body(request: web.Request, limits: WebLimits, max_size: int) -> bytes:
    """The whole body, within `limits.body_timeout` (else `TimeoutError`) and at most `max_size` bytes
    (else `web.HTTPRequestEntityTooLarge`, at once when the declared length is already over it)."""
    if request.content_length is not None and request.content_length > max_size:
        raise web.HTTPRequestEntityTooLarge(max_size=max_size, actual_size=request.content_length)
    async with asyncio.timeout(limits.body_timeout):
        return await request.clone(client_max_size=max_size).read()


@asynccontextmanager
async def listening(
    app: web.Application, host: str = "127.0.0.1", port: int = 0, limits: WebLimits = DEFAULT_LIMITS
) -> AsyncIterator[str]:
    """Serve `app` on `host`:`port` for the block's duration (port 0 picks a free one); yields the base
    URL it listens on, `http://HOST:PORT`. Cleaned up on exit, whatever happened inside."""
    runner = web.AppRunner(
        app, access_log=None, keepalive_timeout=limits.idle_timeout, lingering_time=limits.lingering_time
    )
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, limits)
        await site.start()
        yield f"http://{host}:{bound_port(runner)}"
    finally:
        await runner.cleanup()


def bound_port(runner: web.AppRunner) -> int:
    """The port the server actually listens on."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the web server is not listening")
