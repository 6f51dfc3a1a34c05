"""The core: `Core.handle(incoming, reply)` is the one path every adapter calls.

It reads the command, runs the access stage, and hands the message to the command; refusals become one
line for the asker, anything unexpected one apologetic line (the log keeps the detail). The core imports
no adapter; `open_core` builds the services every command shares.

Stopping is the core's too: `Core.drain` (called on SIGTERM or Ctrl-C, before the adapters stop) turns new
messages away, lets the answers in progress finish within a grace period and cuts the rest, each settled
and delivered as far as it got, so a deploy never leaves holds for the next start to charge in full.
`Core.stop` is the same cut for one answer, asked for by its asker (or an owner) through the Stop control
an adapter shows with the answer's id: one code path delivers, notes and charges both. A press that
reaches a process other than the one streaming the answer (webhook workers, shards on one PostgreSQL
database) is relayed to it (`bot/stops.py`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from bot.access import Gate
from bot.commands import ALL
from bot.commands.base import Context, Services, Stoppable
from bot.commands.model import model_choices
from bot.config import Settings
from bot.conversation import Conversations
from bot.deliveries import Deliveries
from bot.i18n import Language, _, from_client, speaking, use
from bot.incoming import CUT_DELIVERY_LIMIT, CommandInfo, Incoming, ModelChoice, Reply, split_command
from bot.ledger import Ledger, UserProfile, utc_now
from bot.owner import is_owner
from bot.pricing import Pricer, price_updates
from bot.providers.catalog import ProviderSpec
from bot.providers.http import create_session
from bot.providers.openrouter_models import openrouter_list
from bot.providers.registry import Providers
from bot.refusals import Refusal, Restarting
from bot.startup import model_warnings
from bot.stops import Stops
from bot.storage import DatabaseBusy, Turn, open_database
from bot.wording import RESTARTING, STOP_FINISHED, STOP_NOT_YOURS, STOPPING, UNEXPECTED, refusal

log = logging.getLogger(__name__)
T = TypeVar("T")


def parse(text: str, direct: bool, attachments: bool = False) -> tuple[str, str] | None:
    """(command name, arguments), or None when the message is not for the bot.

    "/ask@capbot hi" → ("ask", "hi"); plain text counts as /ask only where it is addressed to the bot, and
    so does a photo or voice note, with or without a caption.
    """
    text = text.strip()
    command = split_command(text)
    if command is not None:
        return command
    if direct:  # plain text addressed to the bot is a question; a bare mention asks what it can do
        return ("ask", text) if text or attachments else ("help", "")
    return None


class Core:
    """What adapters hold: one per process, shared by every platform, so all of them answer alike."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._gate = Gate(services)
        self._commands = {name: c for c in services.commands for name in (c.name, *c.aliases)}
        self._answering: set[asyncio.Future[Any]] = set()  # messages and requests being answered, for `drain`
        self._draining = False
        self._stoppable: dict[str, tuple[Stoppable, asyncio.Future[Any]]] = {}  # answers by their Stop id
        self._deliveries = Deliveries(services.ledger.db, services.clock)
        ledger = services.ledger
        self._stops = Stops(ledger.db, ledger.instance, services.clock, self._stop_here)

    async def claim(self, delivery: str) -> bool:
        """Whether to handle a platform event: True the first time its key is claimed, False for an event
        already answered or in progress (a redelivery after a crash), in this process or an earlier one.

        Adapters name each event by a key its redeliveries share (e.g. "telegram:<bot>:<update id>").
        """
        return await self._deliveries.claim(delivery)

    async def line_up(self, key: str) -> Turn:
        """A place in `key`'s line across every process on this database (see `Database.line_up`).

        Adapters whose events for one person can reach several processes (Telegram webhook workers) hold
        the turn while handling, so that person's answers keep the order of arrival; `key` is opaque.
        """
        return await self.services.ledger.db.line_up(key)

    async def handle(self, incoming: Incoming, reply: Reply) -> None:
        """Answer one message. Never raises for anything a person or a provider did.

        The work runs in a task of its own, so `drain` can cut it without cancelling the adapter's task
        (which still has the platform to talk to); a message cut that way returns quietly."""
        parsed = parse(incoming.text, incoming.direct, bool(incoming.attachments))
        if parsed is None:
            return
        if self._draining:
            with speaking(self.client_language(incoming.language)):
                await reply.text(_(RESTARTING), private=True)
            return
        stoppable = Stoppable(self._stop_id(incoming), incoming.user)
        answering = asyncio.ensure_future(self._handle(incoming, reply, *parsed, stoppable))
        self._answering.add(answering)
        answering.add_done_callback(self._answering.discard)
        self._stoppable[stoppable.id] = (stoppable, answering)
        answering.add_done_callback(lambda _: self._stoppable.pop(stoppable.id, None))
        try:
            await answering
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if answering.cancelled() and this is not None and not this.cancelling():
                return  # cut by `drain` or `stop`, not by our caller: settled and delivered as far as it got
            raise

    async def stop(self, answer: str, *, by: str, language: str | None = None) -> str:
        """Stop the answer whose Stop control carries `answer`, when `by` (an identity) asked it or is an
        owner: the provider request is cancelled at once and the answer cut the way `drain` cuts it (what
        was shown stays, ending in a short note, charged its usage or the bound of what streamed). Returns
        the one line for the person who pressed it (in `language`, their client's), and anyone else's press
        changes nothing. An answer another process streams is stopped there, with the same lines."""
        with speaking(self.client_language(language)):
            if answer in self._stoppable:
                return _(self._stop_here(answer, by))
            try:
                return _(await self._stops.elsewhere(answer, by, self.services.is_owner))
            except DatabaseBusy as exc:  # can't tell whether any process has it: say so, not "finished"
                log.warning("database busy relaying a Stop from %s", by)
                return refusal(exc, self.services.clock())

    def _stop_id(self, incoming: Incoming) -> str:
        """The id of the answer's Stop control: the adapter's (`Incoming.stop`) unless an answer here holds
        it already (then the platform's own control can't reach this one, but nothing is mixed up)."""
        if incoming.stop and incoming.stop not in self._stoppable:
            return incoming.stop
        return secrets.token_hex(8)

    def hearing_stops(self) -> AbstractAsyncContextManager[None]:
        """While open, Stop presses other processes relay reach this process's answers (see `stop`)."""
        return self._stops.running()

    def _stop_here(self, answer: str, by: str) -> str:
        """`stop` for an answer of this process (else "already finished"): also what a relayed press runs."""
        found = self._stoppable.get(answer)
        if found is None or found[1].done():
            return STOP_FINISHED
        stoppable, answering = found
        if by != stoppable.user and not is_owner(self.services.settings, by):
            return STOP_NOT_YOURS
        if not stoppable.stopped:
            log.info("%s stopped the answer to %s", by, stoppable.user)
            stoppable.stopped = True
            answering.cancel()
        return STOPPING

    async def outside_chat(self, user: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run a paid request that comes from outside chat (the gateway's) the way /ask runs in chat: turned
        away while stopping, through the same access stage (allowlist, rate limit, answers in flight, block),
        in a task of its own that `drain` waits for and cuts. Refusals are raised for the caller to word;
        a request `drain` cut (settled as far as it got) raises `Restarting`."""
        if self._draining:
            raise Restarting()
        ask = self._commands["ask"]

        async def run() -> T:
            await self._gate.check(Incoming(user, f"gateway:{user}", ""), ask)
            return await work()

        answering = asyncio.ensure_future(run())
        self._answering.add(answering)
        answering.add_done_callback(self._answering.discard)
        try:
            return await answering
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if answering.cancelled() and this is not None and not this.cancelling():
                raise Restarting() from None  # cut by `drain`, not by our caller
            raise

    @property
    def draining(self) -> bool:
        """Whether a stop is under way (`drain` was called): new messages are turned away."""
        return self._draining

    async def drain(self, grace: float) -> int:
        """Stop taking messages (each new one gets one line: the bot is restarting), give those in progress
        `grace` seconds to finish, then cut the rest. A cut answer delivers what it showed without the
        streaming cursor and is charged its usage or the bound of what it streamed (see /ask). Returns how
        many were cut, once they have settled (or been handed to the ledger's retrier)."""
        self._draining = True
        running = set(self._answering)
        if not running:
            return 0
        log.info("stopping: %d answers in progress get up to %gs to finish", len(running), grace)
        _done, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            # each cut answer's own clean-up is bounded (its final delivery, then one settle attempt)
            _done, stuck = await asyncio.wait(late, timeout=2 * CUT_DELIVERY_LIMIT)
            log.warning("stopping: cut %d answers still running after %gs", len(late), grace)
            if stuck:
                log.error("stopping: %d cut answers did not finish their clean-up", len(stuck))
        return len(late)

    def client_language(self, code: str | None) -> Language:
        """The language for a client reporting `code` (Telegram's language_code, a Discord locale), for the
        lines an adapter says on its own (an expired button): ours when we speak it, else DEFAULT_LANGUAGE."""
        return from_client(code) or self.services.settings.default_language

    def language(self, incoming: Incoming, profile: UserProfile | None) -> Language:
        """The language to answer `incoming` in: the person's /lang choice (in `profile`; None when the
        database was too busy to say), else what their client reports, else DEFAULT_LANGUAGE."""
        chosen = None if profile is None else profile.language
        return from_client(chosen) or self.client_language(incoming.language)

    @asynccontextmanager
    async def speaking_to(self, incoming: Incoming) -> AsyncIterator[None]:
        """For a line an adapter says on its own to the sender of `incoming` (a file it refused before the
        core heard of it): worded in the language the core would answer them in, their /lang first."""
        with speaking(self.language(incoming, await self._profile(incoming.user))):
            yield

    async def _profile(self, user: str) -> UserProfile | None:
        """The asker's settings, read once per message for its language, the access stage and the command;
        None when the database is too busy to say (no reason not to answer: the stage reads it again)."""
        try:
            return await self.services.ledger.profile(user)
        except DatabaseBusy:
            return None

    async def _handle(
        self, incoming: Incoming, reply: Reply, name: str, args: str, stoppable: Stoppable | None = None
    ) -> None:
        profile = await self._profile(incoming.user)
        use(self.language(incoming, profile))  # this task's language: every line below is worded in it
        command = self._commands.get(name)
        if command is None:
            command, args = self._commands["help"], ""
            await reply.text(_("Unknown command /{name}.").format(name=name), private=True)
        try:
            await self._gate.check(incoming, command, profile)
            context = Context(self.services, incoming, reply, name, args, stoppable, profile)
            if stoppable is not None and command.streams:  # an answer with a Stop control
                async with self._stops.in_flight(stoppable):
                    await command.run(context)
            else:
                await command.run(context)
        except Refusal as exc:  # every "no", from any part of the bot: one line for the asker
            if exc.silent:  # they were told already (a flood past the rate limit): not once per message
                log.debug("silent refusal of /%s for %s: %r", name, incoming.user, exc)
                return
            if isinstance(exc, DatabaseBusy):
                log.warning("database busy while handling /%s for %s", name, incoming.user)
            await reply.text(refusal(exc, self.services.clock()), private=True)
        except Exception:
            log.exception("unexpected error handling /%s for %s", name, incoming.user)
            await reply.text(_(UNEXPECTED), private=True)

    def command_list(self, *, owner: bool = False) -> list[CommandInfo]:
        """The commands with their traits, for the platforms' menus and behaviour (owners see theirs too)."""
        return [c.info() for c in self.services.commands_for(owner=owner)]

    def model_choices(self, query: str) -> list[ModelChoice]:
        """Models matching what was typed, for autocomplete, at most 25 (Discord's limit)."""
        return model_choices(self.services, query)


@asynccontextmanager
async def open_core(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    extra_specs: Iterable[ProviderSpec] = (),
) -> AsyncIterator[Core]:
    """Open the database, settle holds a crashed process left behind (and keep doing so while running),
    share one HTTP session, read OpenRouter's model list when OpenRouter is configured (kept fresh while
    open), and keep genai-prices' data fresh when PRICES_UPDATE asks for it. `clock` is the ledger's (and
    the pricer's): tests pass their own to cross period and price boundaries."""
    pricer = Pricer.from_file(settings.prices_file, clock)
    db = await open_database(settings.database_url, pool_size=settings.database_pool_size)
    try:
        ledger = Ledger.from_settings(db, settings, clock=clock)
        async with (
            ledger.running() as reconciled,
            create_session(settings) as session,
            openrouter_list(settings, session) as openrouter,  # fetched now, refreshed while open
        ):
            if reconciled:
                log.warning("settled %d holds left by an earlier crash at their full amount", reconciled)
            pricer.openrouter = openrouter  # OpenRouter's own prices for its models
            services = Services(
                settings=settings,
                ledger=ledger,
                pricer=pricer,
                providers=Providers(settings, session, extra_specs),
                conversations=Conversations(db),
                session=session,
                clock=clock,
                commands=ALL,
            )
            for warning in model_warnings(settings, services.providers):
                log.warning("%s", warning)
            core = Core(services)
            async with core.hearing_stops():
                with price_updates(settings.prices_update, settings.prices_update_url):
                    yield core
    finally:
        await db.close()
