"""`python -m bot [telegram|discord|web|console|api|users|keys|prices|db]` — see README.md.

With no argument, every adapter whose token is set runs in this one process, sharing the core.

SIGTERM (every deploy) and SIGINT (Ctrl-C) stop a running bot cleanly and in order: the core drains first
(new questions turned away, answers in progress given SHUTDOWN_GRACE_SECONDS, the rest cut, settled and
delivered without the cursor) while the platforms can still send, then the platforms stop, then the
ledger flushes and retires. In the console Ctrl-C instead stops the answer in progress, or quits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError, Settings, load_settings
from bot.pricing import PriceFileError
from bot.redact import install_redaction
from bot.startup import PlatformUnreachable, ledger_location
from bot.storage import DatabaseError

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger("bot")


@dataclass(frozen=True)
class Platform:
    """A chat platform `python -m bot` can run: adding one is a row in `PLATFORMS`."""

    name: str  # the command-line word
    title: str  # as people write it
    token_env: str  # the setting that holds its token; set means "run it" when no platform is named
    runner: str  # the module whose `run(core, settings)` runs it until cancelled, imported only when used
    webhook_env: str | None = None  # set: updates arrive on PORT, so the platform serves the web server

    def configured(self, settings: Settings) -> bool:
        return settings.secret(self.token_env) is not None

    def require_token(self, settings: Settings) -> None:
        if not self.configured(settings):
            raise ConfigError(f"{self.token_env}: required to run the {self.title} bot")

    def serves_web(self, settings: Settings) -> bool:
        """Whether this platform runs the process's one web server itself (the owner API beside it)."""
        return self.webhook_env is not None and bool(getattr(settings, self.webhook_env.lower()))

    def run(self, core: Core, settings: Settings) -> Awaitable[None]:
        run: Callable[[Core, Settings], Awaitable[None]] = importlib.import_module(self.runner).run
        return run(core, settings)


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform(
            name="telegram",
            title="Telegram",
            token_env="TELEGRAM_BOT_TOKEN",
            runner="adapters.telegram_bot",
            webhook_env="TELEGRAM_WEBHOOK_URL",
        ),
        Platform(
            name="discord",
            title="Discord",
            token_env="DISCORD_BOT_TOKEN",
            runner="adapters.discord_bot",
        ),
    )
}
TOKENS = [p.token_env for p in PLATFORMS.values()]


def _parser() -> argparse.ArgumentParser:
    from bot import cli, db_cli, keys_cli, prices_cli

    # every sub-parser takes the main parser's class, so all usage errors are one line
    parser = cli.OneLineParser(
        prog="python -m bot",
        description="capbot: LLM chat bot with hard spending caps",
        epilog="With no command, runs every chat platform whose token is set "
        f"({', '.join(TOKENS)}). Try `python -m bot console --demo` with no key.",
    )
    sub = parser.add_subparsers(dest="mode")
    for platform in PLATFORMS.values():
        sub.add_parser(platform.name, help=f"run the {platform.title} bot")
    console = sub.add_parser("console", help="chat from this terminal (each stdin line is a message)")
    console.add_argument("--user", default="console", help="console user name (identity console:NAME)")
    console.add_argument("--demo", action="store_true", help="use a local demo model: no key needed")
    sub.add_parser(
        "api",
        help="serve only the owner's HTTP API and the gateway on PORT (needs ADMIN_API_TOKEN or GATEWAY=1)",
    )
    sub.add_parser(
        "web",
        help="the web process: the Telegram webhook (with TELEGRAM_WEBHOOK_URL) and the owner's API on "
        "PORT; run as many as you like behind one load balancer",
    )
    cli.add_parser(sub)
    keys_cli.add_parser(sub)
    prices_cli.add_parser(sub)
    db_cli.add_parser(sub)
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
    from adapters.console import Console
    from bot.core import open_core

    if hasattr(sys.stdin, "reconfigure"):  # a stray non-UTF-8 byte is one odd character, not a crash
        sys.stdin.reconfigure(errors="replace")
    if not demo:
        async with open_core(settings) as core:
            session = Console(core, user=user)
            await _until_stopped(core, settings, [session.run()], interrupt=session.interrupt)
        return
    from bot.i18n import from_client, terminal_language
    from bot.providers.demo import DEMO_MODEL, demo_server, demo_spec

    language = from_client(terminal_language()) or settings.default_language
    async with (
        demo_server(language=language) as base_url,
        open_core(settings, extra_specs=[demo_spec(base_url)]) as core,
    ):
        sys.stdout.write(f"(demo mode: answers come from {DEMO_MODEL}, a local stand-in for an LLM)\n")
        session = Console(core, user=user)
        await _until_stopped(core, settings, [session.run()], interrupt=session.interrupt)


async def _api(settings: Settings) -> None:
    from bot.core import open_core
    from bot.web import serve

    async with open_core(settings) as core, serve(core, settings):
        await _until_stopped(core, settings, [asyncio.Event().wait()])  # nothing ends it but a signal


async def _platforms(settings: Settings, which: Sequence[Platform]) -> None:
    from bot.core import open_core
    from bot.web import api_enabled, serve

    async with open_core(settings) as core, contextlib.AsyncExitStack() as stack:
        # The owner's API and the gateway ride along on PORT; a Telegram webhook shares that one server.
        web_wanted = api_enabled(settings) or settings.gateway
        if web_wanted and not any(platform.serves_web(settings) for platform in which):
            await stack.enter_async_context(serve(core, settings))
        await _until_stopped(core, settings, [platform.run(core, settings) for platform in which])


async def _until_stopped(
    core: Core,
    settings: Settings,
    runs: Sequence[Awaitable[object]],
    *,
    interrupt: Callable[[], None] | None = None,
) -> None:
    """Run `runs` (the platforms, the console) until they end or SIGTERM / SIGINT arrives; then drain the
    core while they can still deliver the final edits, and only then cancel them (their clean stop).
    `interrupt`, when given, is what SIGINT does instead (the console's Ctrl-C)."""
    stop = asyncio.Event()
    running = asyncio.ensure_future(asyncio.gather(*runs))
    with _signals({signal.SIGTERM: stop.set, signal.SIGINT: interrupt or stop.set}):
        stopping = asyncio.ensure_future(stop.wait())
        either: set[asyncio.Future[Any]] = {running, stopping}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not running.done():
            log.info("stopping: finishing the answers in progress")
            await core.drain(settings.shutdown_grace_seconds)
    if running.done():
        running.result()  # a platform that could not start says why (a ConfigError line)
        return
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


@contextlib.contextmanager
def _signals(handlers: dict[signal.Signals, Callable[[], None]]) -> Iterator[None]:
    """Handle these signals on the running loop for the block: a deploy's SIGTERM then stops the bot as
    cleanly as Ctrl-C, instead of killing it with holds open."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum, handler in handlers.items():
        try:
            loop.add_signal_handler(signum, handler)
        except NotImplementedError:  # no POSIX signals (Windows): Ctrl-C stays a KeyboardInterrupt
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


_WEB_NEEDS = (
    "the web process serves the owner's API (set ADMIN_API_TOKEN), the gateway (set GATEWAY=1) and the "
    "Telegram webhook (set TELEGRAM_WEBHOOK_URL); none is set"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.mode == "console" and args.demo:
        overrides = {
            "default_model": "demo/capbot-demo",
            "database_url": "sqlite:///data/demo.db",
            "transcription_model": "demo/capbot-demo",  # a labelled stand-in, so voice notes work keyless
        }
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
        if args.mode == "keys":
            from bot import keys_cli

            return asyncio.run(keys_cli.run(settings, args))
        if args.mode == "db":
            from bot import db_cli

            return asyncio.run(db_cli.run(settings, args))
        if args.mode == "prices":
            from bot import prices_cli

            return prices_cli.run(settings, args)
        webhooks = [p for p in PLATFORMS.values() if p.serves_web(settings)]
        if args.mode == "api" or (args.mode == "web" and not webhooks):
            if settings.secret("ADMIN_API_TOKEN") is None and not settings.gateway:
                needs = "required to serve the API" if args.mode == "api" else _WEB_NEEDS
                raise ConfigError(f"ADMIN_API_TOKEN: {needs}")
            _say_where_the_ledger_is(settings)
            asyncio.run(_api(settings))
            return 0
        if args.mode == "web":  # the platforms whose updates arrive on PORT, with the API beside them
            which = webhooks
        elif args.mode:
            which = [PLATFORMS[args.mode]]
        else:
            which = [p for p in PLATFORMS.values() if p.configured(settings)]
        if not which:
            print(
                f"Nothing to run: set {' or '.join(TOKENS)}, or try `python -m bot console --demo`.",
                file=sys.stderr,
            )
            return 2
        for platform in which:
            platform.require_token(settings)
        _say_where_the_ledger_is(settings)
        asyncio.run(_platforms(settings, which))
        return 0
    except (ConfigError, PriceFileError) as exc:
        print(f"capbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except PlatformUnreachable as exc:
        print(f"capbot: {exc}", file=sys.stderr)
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


def _say_where_the_ledger_is(settings: Settings) -> None:
    """Long-running modes only: the console keeps stderr for problems."""
    if (where := ledger_location(settings.database_url)) is not None:
        log.info("%s", where)


def _demo_database(settings: Settings) -> dict[str, Any]:
    import os

    return {"database_url": os.environ["DATABASE_URL"]} if os.environ.get("DATABASE_URL") else {}


if __name__ == "__main__":
    sys.exit(main())
