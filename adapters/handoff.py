"""What every chat adapter shares when it hands a message to the core: what it needs of the core, the
commands' traits looked up by name, one-line failure descriptions, and the safe call around the core.

A platform library raises its own error when talking to the platform fails (a deleted chat, an expired
token, a dropped connection): that is one warning in the log. Anything else is a bug: one error line, and
one apology to the person (the core's own line for the unexpected), never a traceback in the chat.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from bot.i18n import Language, _, speaking
from bot.incoming import CommandInfo, Incoming, ModelChoice, Reply, split_command
from bot.storage import Turn
from bot.wording import UNEXPECTED


class ChatCore(Protocol):
    """What the adapters need from `bot.core.Core`."""

    async def handle(self, incoming: Incoming, reply: Reply) -> None: ...

    async def claim(self, delivery: str) -> bool: ...

    async def line_up(self, key: str) -> Turn: ...

    async def stop(self, answer: str, *, by: str, language: str | None = None) -> str: ...

    def command_list(self, *, owner: bool = False) -> list[CommandInfo]: ...

    def model_choices(self, query: str) -> list[ModelChoice]: ...

    def client_language(self, code: str | None) -> Language: ...

    def speaking_to(self, incoming: Incoming) -> AbstractAsyncContextManager[None]: ...


def short(exc: BaseException) -> str:
    """One line about a failure for the log: the platform libraries' messages carry status and code, never
    the token (and the redaction filter still guards it)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


class KnownCommands:
    """The core's commands by name and alias, for what an adapter decides about one message."""

    def __init__(self, commands: Iterable[CommandInfo]) -> None:
        self.by_name = {name: c for c in commands for name in (c.name, *c.aliases)}
        self.names = frozenset(self.by_name)

    def streams(self, text: str, *, direct: bool) -> bool:
        """Whether the message asks for a streamed answer: a streaming command, or plain text where plain
        text is a question."""
        command = split_command(text)
        if command is None:
            return direct and bool(text.strip())
        found = self.by_name.get(command[0])
        return found is not None and found.streams


@dataclass(frozen=True)
class Handoff:
    """Runs the core for one platform. `errors` is what its library raises when talking to it fails."""

    platform: str  # prefixes every log line, e.g. "telegram"
    errors: type[Exception]
    log: logging.Logger

    async def answer(self, core: ChatCore, incoming: Incoming, reply: Reply) -> None:
        """Run the core; a failure talking to the platform is one log line, never a traceback."""
        platform, log = self.platform, self.log
        try:
            await core.handle(incoming, reply)
        except self.errors as exc:
            log.warning("%s: answering %s failed: %s", platform, incoming.user, short(exc))
        except Exception as exc:
            log.error("%s: unexpected error answering %s: %s", platform, incoming.user, short(exc))
            log.debug("%s: error detail", platform, exc_info=True)
            try:
                with speaking(core.client_language(incoming.language)):
                    await reply.text(_(UNEXPECTED), private=True)
            except Exception as again:
                log.warning("%s: could not report the error to %s: %s", platform, incoming.user, short(again))
