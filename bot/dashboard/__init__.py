"""The owner's dashboard in the browser: spend, people and caps (see `bot.dashboard.app`)."""

from bot.dashboard.app import PREFIX, build_dashboard

__all__ = ["PREFIX", "build_dashboard"]
