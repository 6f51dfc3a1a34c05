"""`python -m bot [telegram|discord|console|api|users]` — see README.md.

With no argument, every adapter whose token is set runs in this one process, sharing the core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.config import ConfigError, Settings, load_settings
from bot.pricing import PriceFileError
from bot.redact import install_redaction
from bot.storage import DatabaseError

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    from bot import cli

    # every sub-parser takes the main parser's class, so all usage errors are one line
    parser = cli.OneLineParser(
        prog="python -m bot",
        description="capbot: LLM chat bot with hard spending caps",
        epilog="With no command, runs every chat platform whose token is set "
        "(TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN). Try `python -m bot console --demo` with no key.",
    )
    sub = parser.add_subparsers(dest="mode")
    sub.add_parser("telegram", help="run the Telegram bot")
    sub.add_parser("discord", help="run the Discord bot")
    console = sub.add_parser("console", help="chat from this terminal (each stdin line is a message)")
    console.add_argument("--user", default="console", help="console user name (identity console:NAME)")
    console.add_argument("--demo", action="store_true", help="use a local demo model: no key needed")
    sub.add_parser("api", help="serve only the owner's HTTP API on PORT (needs ADMIN_API_TOKEN)")
    cli.add_parser(sub)
    return parser


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "aiohttp.access", "discord.gateway"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    install_redaction(settings.secrets())


async def _console(settings: Settings, user: str, demo: bool) -> None:
    from adapters import console
    from bot.core import open_core

    if hasattr(sys.stdin, "reconfigure"):  # a stray non-UTF-8 byte is one odd character, not a crash
        sys.stdin.reconfigure(errors="replace")
    if not demo:
        async with open_core(settings) as core:
            await console.run(core, user=user)
        return
    from bot.providers.demo import DEMO_MODEL, demo_server, demo_spec

    async with demo_server() as base_url, open_core(settings, extra_specs=[demo_spec(base_url)]) as core:
        sys.stdout.write(f"(demo mode: answers come from {DEMO_MODEL}, a local stand-in for an LLM)\n")
        await console.run(core, user=user)


async def _api(settings: Settings) -> None:
    from bot.core import open_core
    from bot.web import serve

    async with open_core(settings) as core, serve(core, settings):
        await asyncio.Event().wait()  # until interrupted


async def _platforms(settings: Settings, which: Sequence[str]) -> None:
    from bot.core import open_core
    from bot.web import api_enabled, serve

    async with open_core(settings) as core, contextlib.AsyncExitStack() as stack:
        # The owner's API rides along on PORT; a Telegram webhook shares that one server.
        telegram_webhook = "telegram" in which and bool(settings.telegram_webhook_url)
        if api_enabled(settings) and not telegram_webhook:
            await stack.enter_async_context(serve(core, settings))
        runs: list[Coroutine[Any, Any, None]] = []
        if "telegram" in which:
            from adapters import telegram_bot

            runs.append(telegram_bot.run(core, settings))
        if "discord" in which:
            from adapters import discord_bot

            runs.append(discord_bot.run(core, settings))
        await asyncio.gather(*runs)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.mode == "console" and args.demo:
        overrides = {"default_model": "demo/capbot-demo", "database_url": "sqlite:///data/demo.db"}
    try:
        settings = load_settings(**overrides)
        if args.mode == "console" and args.demo:
            # an explicit DATABASE_URL wins over the demo's own database
            settings = settings.model_copy(update=_demo_database(settings))
        _setup_logging(settings)
        if args.mode == "console":
            asyncio.run(_console(settings, args.user, args.demo))
            return 0
        if args.mode == "users":
            from bot import cli

            return asyncio.run(cli.run(settings, args))
        if args.mode == "api":
            if settings.secret("ADMIN_API_TOKEN") is None:
                raise ConfigError("ADMIN_API_TOKEN: required to serve the API")
            asyncio.run(_api(settings))
            return 0
        which = [args.mode] if args.mode else _configured_platforms(settings)
        if not which:
            print(
                "Nothing to run: set TELEGRAM_BOT_TOKEN or DISCORD_BOT_TOKEN, "
                "or try `python -m bot console --demo`.",
                file=sys.stderr,
            )
            return 2
        _require_tokens(settings, which)
        asyncio.run(_platforms(settings, which))
        return 0
    except (ConfigError, PriceFileError) as exc:
        print(f"capbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:
        hint = ""
        if args.mode == "console" and args.demo:
            hint = " (the demo keeps its ledger in data/demo.db: run it from a writable directory)"
        print(f"capbot: {exc}{hint}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed before the console adapter could notice (`| head -0`)
        return 0
    except KeyboardInterrupt:
        return 0


def _demo_database(settings: Settings) -> dict[str, Any]:
    import os

    return {"database_url": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}


def _configured_platforms(settings: Settings) -> list[str]:
    found = []
    if settings.telegram_bot_token:
        found.append("telegram")
    if settings.discord_bot_token:
        found.append("discord")
    return found


def _require_tokens(settings: Settings, which: Sequence[str]) -> None:
    for platform in which:
        if platform == "telegram" and not settings.telegram_bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN: required to run the Telegram bot")
        if platform == "discord" and not settings.discord_bot_token:
            raise ConfigError("DISCORD_BOT_TOKEN: required to run the Discord bot")


if __name__ == "__main__":
    sys.exit(main())
