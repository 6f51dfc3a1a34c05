"""bot.pricing, moved to a package: its parts follow in the next commit."""

from bot.pricing.pricer import *  # noqa: F403
from bot.pricing.pricer import _Override  # noqa: F401
