"""Who the client is when the web server sits behind reverse proxies (`TRUSTED_PROXIES`).

Behind nginx or Caddy every connection comes from the proxy, so anything keyed by the TCP peer (the
dashboard's sign-in back-off, log lines naming who knocked) would see one client: a stranger's wrong
tokens would lock the owner out too. The proxy says who it served in `X-Forwarded-For`, but anyone can
send that header, so it is believed only from the proxies the owner names, as uvicorn's
`--forwarded-allow-ips` and gunicorn's `forwarded_allow_ips` do:

- The peer is not a trusted proxy (the default: `TRUSTED_PROXIES` is empty): the peer is the client, and
  its `X-Forwarded-For` and `X-Forwarded-Proto` are ignored.
- The peer is trusted: each proxy appends the address it was connected from, so `X-Forwarded-For` is read
  from the right, and the first address that is not itself a trusted proxy is the client. What lies left
  of it was written by the client (or by proxies we know nothing of) and is never read, so an address a
  client prepends changes nothing. When every entry is a trusted proxy the request began inside, and the
  left-most entry is the client. No header, or an entry up to the client that is not an IP address (a
  proxy we trust wrote something we can't read): the peer is the client, so the request counts against
  that proxy, never against whoever the header names.
- The scheme follows the same rule: `X-Forwarded-Proto` (its right-most entry, the one the nearest
  trusted proxy vouches for) makes the request https or http only when the peer is trusted. An untrusted
  peer can't claim https; behind a proxy that is not in `TRUSTED_PROXIES` the session cookie is therefore
  not marked `Secure`, and a line in the log (at most once an hour) says which peer sent forwarded
  headers that were ignored, so the owner learns what to set.

`behind_proxies` is the middleware that applies the rule: the first of the root application, so every
handler (the API, the dashboard, the gateway, the Telegram webhook) reads the client in `request.remote`
and the scheme in `request.secure`; nothing else reads these headers. Peers and entries written as
IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers) count as IPv4.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web

from bot.web_limits import RepeatThrottle

log = logging.getLogger("bot.web")
Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FORWARDED_FOR = "X-Forwarded-For"
FORWARDED_PROTO = "X-Forwarded-Proto"
SCHEMES = ("http", "https")


def parse_address(text: str) -> Address | None:
    """An IP address as a proxy writes it (surrounding spaces allowed), IPv4-mapped ones as IPv4; None
    when it is not one (a host name, `unknown`, an address with a port)."""
    try:
        found = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose forwarded headers are believed (`Settings.trusted_proxies`); empty: nobody's."""

    networks: tuple[Network, ...] = ()

    def trusts(self, address: Address) -> bool:
        # the version check matters: `ipaddress` compares the bits of an IPv4 address with an IPv6 network
        return any(address.version == net.version and address in net for net in self.networks)

    def trusts_peer(self, peer: str | None) -> bool:
        """Whether the TCP peer (as aiohttp reports it) is one of the trusted proxies."""
        found = parse_address(peer) if peer else None
        return found is not None and self.trusts(found)

    def client(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The client's address: `peer` unless it is trusted and `forwarded_for` (every X-Forwarded-For
        header line, in order) names someone else, read from the right as the module doc says."""
        if not forwarded_for or not self.trusts_peer(peer):
            return peer
        address: Address | None = None
        for entry in reversed(",".join(forwarded_for).split(",")):
            address = parse_address(entry)
            if address is None:
                return peer
            if not self.trusts(address):
                return str(address)
        return str(address)  # every entry is a trusted proxy: the left-most began the request

    def scheme(self, peer: str | None, forwarded_proto: list[str]) -> str | None:
        """ "http" or "https" as a trusted peer's X-Forwarded-Proto says; None: keep the connection's own."""
        if not forwarded_proto or not self.trusts_peer(peer):
            return None
        said = ",".join(forwarded_proto).split(",")[-1].strip().lower()
        return said if said in SCHEMES else None


IGNORED = RepeatThrottle(interval=3600.0)  # the hint about ignored headers: once an hour is plenty


def behind_proxies(trusted: TrustedProxies) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: the request as its handlers should see it, with `remote` the client and `scheme` what
    a trusted proxy says. It must come before anything that reads the body (aiohttp clones a request only
    before that)."""

    @web.middleware
    async def client_of(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        forwarded_for = request.headers.getall(FORWARDED_FOR, [])
        forwarded_proto = request.headers.getall(FORWARDED_PROTO, [])
        if not forwarded_for and not forwarded_proto:
            return await handler(request)
        if not trusted.trusts_peer(peer):
            _ignored(peer)
            return await handler(request)
        client = trusted.client(peer, forwarded_for)
        scheme = trusted.scheme(peer, forwarded_proto) or request.scheme
        if client == peer and scheme == request.scheme:
            return await handler(request)
        assert client is not None  # a trusted peer has an address, and so has what replaces it
        return await handler(request.clone(remote=client, scheme=scheme))

    return client_of


def _ignored(peer: str | None) -> None:
    held = IGNORED.allow("ignored")
    if held is not None:
        log.warning(
            "web: forwarded headers from %s ignored: it is not in TRUSTED_PROXIES (if it is your reverse "
            "proxy, add its address there so clients are told apart)%s",
            peer or "an unknown peer",
            IGNORED.note(held),
        )
