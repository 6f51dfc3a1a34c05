"""The owner's provisioning HTTP API (aiohttp), mounted under /api/v1 by `bot.web`."""

from bot.api.app import build_api

__all__ = ["build_api"]
