"""Telegram: capbot on python-telegram-bot v22, through the core. `run(core, settings)` is the entry.

Polling by default. With TELEGRAM_WEBHOOK_URL set, Telegram posts updates to that URL instead; the route
is served by the process's one web server on PORT (beside the owner API, see `bot.web`), and a request
counts only with the secret token we registered with setWebhook. The secret is derived from the bot token
(an owner has nothing more to configure, and it changes when the token is rotated).
Several web processes may serve one webhook URL behind a load balancer: before a request is acknowledged,
its update lines up in its person's turn in the database (`PerPersonOrder.admit`), so a person's answers
keep the order in which their updates reached the processes.

TELEGRAM_BASE_URL is python-telegram-bot's `base_url` (the token is appended), so the same code talks to
api.telegram.org, a local Bot API server or the test fake. Every call goes through the token's one
`OutgoingScheduler` (`outgoing`: Telegram's overall, per-chat and per-group budgets, spent by priority, a
429 pausing the whole token) and over aiohttp (`aiohttp_request`), for the bot's calls and getUpdates alike.

Modules: `addressing` (which messages are for the bot, whose they are), `ordering` (concurrent updates,
each person's in turn), `handlers` (what PTB calls: messages, button taps, a stopped draft), `reply`
(formatting, splitting, drafts, Stop, typing), `menu` (inline keyboards for the core's menus), `media`
(photos, image files, voice notes and audio files downloaded within MAX_MEDIA_MB), `albums` (a media
group as one question), `outgoing` (the scheduler), `aiohttp_request` (PTB's transport on aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters.handoff import ChatCore, short
from adapters.telegram_bot.aiohttp_request import AiohttpRequest
from adapters.telegram_bot.handlers import Handlers
from adapters.telegram_bot.media import file_url_base
from adapters.telegram_bot.ordering import PerPersonOrder
from adapters.telegram_bot.outgoing import OutgoingScheduler
from adapters.telegram_bot.reply import LIMIT, Bot, utf16_units
from bot.config import ConfigError, Settings
from bot.i18n import CHOICES, SOURCE, Language, _, speaking
from bot.incoming import CommandInfo
from bot.startup import unreachable
from bot.web import serve

if TYPE_CHECKING:
    from bot.core import Core

__all__ = [
    "LIMIT",
    "ChatCore",
    "Running",
    "build_application",
    "run",
    "running",
    "utf16_units",
    "webhook_secret",
]

log = logging.getLogger(__name__)

TelegramApp = Application[Bot, Any, Any, Any, Any, Any]
# stopped_message_generation: Telegram's stop button on a draft (Bot API 10.3)
ALLOWED_UPDATES = ["message", "callback_query", "stopped_message_generation"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
# Text, and the files the core may answer: photos, documents (images; others get one line), voice, audio.
MESSAGES = filters.TEXT | filters.PHOTO | filters.Document.ALL | filters.VOICE | filters.AUDIO
COMMAND_NAME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def token_of(settings: Settings) -> str:
    token = settings.secret("TELEGRAM_BOT_TOKEN")
    if not token:
        raise ConfigError("TELEGRAM_BOT_TOKEN: required to run the Telegram bot")
    return token


def webhook_secret(token: str) -> str:
    """The webhook's secret token: stable across restarts, and no way back to the bot token."""
    return hashlib.sha256(b"capbot telegram webhook\0" + token.encode()).hexdigest()[:48]


def webhook_target(url: str) -> tuple[str, str]:
    """(URL to register with Telegram, path to serve it on). A URL without a path gets /telegram/webhook."""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        parts = parts._replace(path=DEFAULT_WEBHOOK_PATH)
    return urlunsplit(parts), parts.path


def build_application(
    core: ChatCore,
    settings: Settings,
    *,
    edit_interval: float | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> TelegramApp:
    """The Application with capbot's handlers; `running` starts it. Tests pass their own interval/limiter."""
    handlers = Handlers(
        core,
        edit_interval=settings.telegram_edit_interval if edit_interval is None else edit_interval,
        max_media_mb=settings.max_media_mb,
    )
    builder = (
        ApplicationBuilder()
        .token(token_of(settings))
        .base_url(settings.telegram_base_url)
        .base_file_url(file_url_base(settings.telegram_base_url))
        .concurrent_updates(PerPersonOrder(handlers))
        .rate_limiter(rate_limiter or OutgoingScheduler())
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
    )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)  # updates arrive through our web server
    application = cast(TelegramApp, builder.build())
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE & MESSAGES, handlers.on_message))
    application.add_handler(CallbackQueryHandler(handlers.on_callback))
    application.add_handler(TypeHandler(Update, handlers.on_other))  # anything else: a draft stopped
    application.add_error_handler(handlers.on_error)
    return application


def webhook_route(application: TelegramApp, secret: str, path: str) -> web.RouteDef:
    """POST `path`: check the secret in constant time, then queue the update for the Application."""
    expected = secret.encode()

    async def on_update(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram: webhook request without the right secret token from %s", request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
            update = Update.de_json(data, application.bot)
        except Exception as exc:  # a malformed body is the sender's problem: 400, and keep serving
            log.warning("telegram: unreadable webhook update: %s", short(exc))
            return web.Response(status=400)
        order = application.update_processor
        if isinstance(order, PerPersonOrder):  # its place in the person's turns, across processes
            await order.admit(update, application.update_queue)
        else:
            await application.update_queue.put(update)
        return web.Response(status=200)

    return web.post(path, on_update)


def bot_commands(commands: list[CommandInfo], language: Language = SOURCE) -> list[BotCommand]:
    """The core's commands in the form Telegram accepts (1-32 of a-z, 0-9, _; a 1-256 character summary),
    summaries in `language` (names stay as declared: they are what people type)."""
    with speaking(language):
        return [
            BotCommand(c.name, _(c.summary or c.name)[:256])
            for c in commands
            if 0 < len(c.name) <= 32 and set(c.name) <= COMMAND_NAME
        ]


def menu_languages(settings: Settings) -> list[tuple[str | None, Language]]:
    """(Telegram `language_code`, our language) for each list to register: the one without a code (every
    client whose language has no list of its own) in DEFAULT_LANGUAGE, then one per language we speak."""
    return [(None, settings.default_language), *((code, language) for code, language in CHOICES.items())]


async def register_commands(bot: Bot, core: ChatCore, settings: Settings) -> None:
    """setMyCommands for everyone, and the owner list in each Telegram owner's private chat, once per
    language: Telegram shows each client the list for its `language_code`."""
    for code, language in menu_languages(settings):
        try:
            await bot.set_my_commands(
                bot_commands(core.command_list(owner=False), language), language_code=code
            )
        except TelegramError as exc:
            log.warning(
                "telegram: could not register the command list (%s): %s", code or "default", short(exc)
            )
    owners = [o.removeprefix("telegram:") for o in settings.owner_ids if o.startswith("telegram:")]
    for owner in owners:
        if not owner.lstrip("-").isdigit():
            continue
        try:
            scope = BotCommandScopeChat(int(owner))
            for code, language in menu_languages(settings):
                commands = bot_commands(core.command_list(owner=True), language)
                await bot.set_my_commands(commands, scope=scope, language_code=code)
        except TelegramError as exc:  # the owner has not started a chat with the bot yet
            log.info("telegram: owner commands not registered for %s: %s", owner, short(exc))


@dataclass(frozen=True)
class Running:
    application: TelegramApp
    webhook_port: int | None  # the web server's port in webhook mode; None when polling


@contextlib.asynccontextmanager
async def running(
    core: ChatCore,
    settings: Settings,
    *,
    application: TelegramApp | None = None,
    host: str | None = None,  # None: HOST, or as `bot.web.bind_host` decides
    port: int | None = None,
) -> AsyncIterator[Running]:
    """Start receiving updates (polling, or the webhook on PORT) for the block; stop cleanly after it.

    Leaving the block finishes the answers in progress before it returns.
    """
    application = application or build_application(core, settings)
    try:
        await application.initialize()  # getMe: proves the token and the base URL
    except (InvalidToken, NetworkError) as exc:
        # PTB shuts down only what finished initializing: the transports opened for getMe stay open
        for request in application.bot._request:
            await request.shutdown()
        if isinstance(exc, InvalidToken):
            raise ConfigError("TELEGRAM_BOT_TOKEN: Telegram rejected the token") from None
        url = settings.telegram_base_url
        raise unreachable("Telegram", url, settings, "TELEGRAM_BASE_URL", short(exc)) from None
    try:
        await register_commands(application.bot, core, settings)
        await application.start()
        try:
            if settings.telegram_webhook_url:
                url, path = webhook_target(settings.telegram_webhook_url)
                secret = webhook_secret(token_of(settings))
                route = webhook_route(application, secret, path)
                # The web app hosts the owner API beside the route when enabled, so it needs the real core.
                async with serve(cast("Core", core), settings, [route], host=host, port=port) as bound:
                    try:
                        await application.bot.set_webhook(
                            url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, max_connections=40
                        )
                    except TelegramError as exc:  # e.g. "bad webhook: HTTPS url must be provided"
                        raise ConfigError(
                            f"TELEGRAM_WEBHOOK_URL: Telegram refused {url}: {short(exc)}"
                        ) from None
                    log.info("telegram: webhook at %s (served on %s)", url, path)
                    yield Running(application, bound)
            else:
                assert application.updater is not None
                await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
                log.info("telegram: polling for updates as @%s", application.bot.username)
                try:
                    yield Running(application, None)
                finally:
                    await application.updater.stop()
        finally:
            await application.stop()
    finally:
        await application.shutdown()


async def run(core: ChatCore, settings: Settings) -> None:
    """Run the Telegram bot until cancelled."""
    async with running(core, settings):
        await asyncio.Event().wait()
