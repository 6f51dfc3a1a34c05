"""The OpenAI-compatible gateway (`GATEWAY=1`): `/v1/chat/completions` and `/v1/models` on PORT, paid from
each person's allowance by the same rules as chat. `app` has the routes and the error shape, `translate`
OpenAI's request and response shapes."""

from bot.gateway.app import Authenticate, build_gateway

__all__ = ["Authenticate", "build_gateway"]
