"""The owner's dashboard in the browser: spend, people and caps (see `bot.dashboard.app`)."""

from bot.dashboard.app import build_dashboard
from bot.dashboard.pages import PREFIX

__all__ = ["PREFIX", "build_dashboard"]
