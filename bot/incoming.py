"""The contract between the core and every chat platform.

An adapter turns a platform event into an `Incoming` and hands the core a `Reply` to answer through.
Both are deliberately small (what every platform can express), so the core never learns a platform.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, NamedTuple, Protocol, Self

log = logging.getLogger(__name__)

# How long an answer cut short (failed, stopped, shut down) may take to deliver what it showed: a slow or
# flooded platform must not hold up a shutdown.
CUT_DELIVERY_LIMIT = 10.0

# A person as every part of the bot names them: the platform, then its own id for them.
_IDENTITY = re.compile(r"(telegram|discord):-?\d+|console:\S+")


def is_identity(text: str) -> bool:
    """Whether `text` is a well-formed identity (`telegram:12345`, `discord:678`, `console:alice`)."""
    return _IDENTITY.fullmatch(text) is not None


def split_command(text: str) -> tuple[str, str] | None:
    """(name, arguments) of a message that starts with a command; None for plain text.

    "/Ask@capbot hi" → ("ask", "hi"): the name as the declarations spell it, however a platform typed it
    (Telegram appends the bot's @handle in groups). The core and the adapters read commands alike.
    """
    text = text.strip()
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = more + (" " + rest if rest else "")
    return head[1:].split("@", 1)[0].lower(), rest.strip()


@dataclass(frozen=True)
class Argument:
    """What a command takes after its name, for platforms that ask for it in a form (Discord's options)."""

    name: str  # one lowercase word, e.g. "prompt"
    description: str
    required: bool = False
    offers_models: bool = False  # the core can suggest values as they are typed (`model_choices`)


@dataclass(frozen=True)
class CommandInfo:
    """A command as its declaration describes it, so each platform builds its menus and behaviour from
    one place (Telegram's setMyCommands and typing, Discord's slash tree, public answers and mentions)."""

    name: str  # without the slash
    summary: str  # one line for /help and the platforms' menus
    usage: str = ""
    argument: Argument | None = None  # None: the command takes nothing after its name
    # An image or a recording the command also takes, for platforms that ask for files in a form
    # (Discord's attachment option); with one given the text may be empty, so a form asks for neither.
    file: Argument | None = None
    streams: bool = False  # a paid streamed answer: slow to start, for everyone in the chat, free text
    owner_only: bool = False
    greeting: bool = False  # what a platform's client sends on first contact (Telegram's Start button)
    aliases: tuple[str, ...] = ()


class ModelChoice(NamedTuple):
    """One autocomplete suggestion for /model: what the person sees, and what choosing it sends."""

    label: str  # the model id with its prices
    model_id: str


@dataclass(frozen=True)
class Incoming:
    """One message addressed to the bot.

    `direct` is "plain text here is a question": true in private chats, for mentions and for replies to
    the bot; false for group chatter that reached the core only because it is a command.

    `private` is "a one-to-one chat with the bot" (a Telegram private chat, a Discord DM, the console):
    only there may the bot show a secret such as a link code, because only there is nobody else reading.
    A group mention is `direct` but not `private`. It defaults to False so that an adapter that forgets to
    say fails closed (a secret is refused) rather than open.
    """

    user: str  # identity, "platform:id", e.g. "telegram:12345"
    conversation: str  # whose history this continues; the adapter decides what one conversation is
    text: str
    direct: bool = True
    private: bool = False
    username: str | None = None  # "@handle" where the platform has one, for owner commands
    display_name: str | None = None
    reply_to_user: str | None = None  # identity of the author of the message this one replies to
    language: str | None = None  # what the person's client reports (Telegram language_code, Discord locale)
    attachments: tuple[Attachment, ...] = ()  # images and audio sent with the message, already downloaded
    # The Stop id for this message's answer, where the platform's own stop control names the answer by
    # something the adapter chose before the core saw the message (Telegram's stop button on a draft
    # carries only the chat and the draft id): a press on it, in any process, then names the answer to
    # `Core.stop`. Unique among answers in flight; None: the core draws one (`Reply.stream`'s `stop`).
    stop: str | None = None


@dataclass(frozen=True)
class Attachment:
    """One image or audio file that came with a message, downloaded by the adapter within `MAX_MEDIA_MB`.

    The bytes travel, never a platform URL: a Telegram file URL carries the bot token.
    """

    kind: Literal["image", "audio"]
    data: bytes
    mime: str  # as the platform declared it ("image/jpeg", "audio/ogg"); the core checks the bytes itself
    name: str = ""  # the file name where the platform has one
    duration: float | None = None  # seconds, for audio, where the platform reports it


@dataclass(frozen=True)
class MenuItem:
    label: str  # what the person sees, e.g. "gpt-4o-mini  $0.15/$0.60"
    command: str  # what choosing it sends back to the core, e.g. "/model openai/gpt-4o-mini"


@dataclass(frozen=True)
class MenuGroup:
    title: str
    items: tuple[MenuItem, ...]


@dataclass(frozen=True)
class Menu:
    """A choice the platform may render natively (an inline keyboard, autocomplete) or as text."""

    title: str
    groups: tuple[MenuGroup, ...] = field(default_factory=tuple)

    def as_text(self) -> str:
        lines = [self.title]
        for group in self.groups:
            lines.append(f"\n{group.title}")
            lines.extend(f"  {item.label}" for item in group.items)
        return "\n".join(lines)


class ClosingStream:
    """Base for AnswerStream implementations: leaving `async with` delivers the text unless `close()` did.

    Subclasses implement `write` and `close`, and set `closed = True` in `close`.
    """

    closed: bool = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.closed:
            return
        if exc is None:
            await self.close()
            return
        try:  # cut short: the shown text still becomes final (without a progress marker), within a bound
            await final_delivery(self, CUT_DELIVERY_LIMIT)
        except Exception as failed:  # the exception that cut the answer is the one that matters
            log.warning("an answer cut short could not be delivered: %s", failed or type(failed).__name__)

    async def close(self) -> str:
        raise NotImplementedError


class AnswerStream(Protocol):
    """A growing answer. The adapter decides how often to show progress and how to split long text."""

    async def write(self, delta: str) -> None: ...

    async def close(self) -> str:
        """Deliver the whole text (the final message or edit) and return it."""
        ...

    async def __aenter__(self) -> AnswerStream: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


async def final_delivery(stream: ClosingStream | AnswerStream, limit: float | None = None) -> str:
    """`stream.close()`, shielded from cancellation: once the final text starts it goes out even when the
    answer is stopped or the bot shuts down meanwhile, so no message is left with its progress marker and
    no send is cut halfway. `limit` (seconds) bounds the wait; returns the text delivered."""
    delivery = asyncio.ensure_future(asyncio.wait_for(stream.close(), limit))
    delivery.add_done_callback(_retrieved)
    return await asyncio.shield(delivery)


def _retrieved(delivery: asyncio.Future[str]) -> None:
    """A delivery whose waiter was cancelled has no one to raise to: its failure is logged here."""
    if not delivery.cancelled() and delivery.exception() is not None:
        log.debug("final delivery failed: %s", delivery.exception())


class Reply(Protocol):
    """How the core answers one `Incoming`."""

    async def text(self, text: str, *, private: bool = False) -> None:
        """Send one message. `private` marks a line meant only for the asker: ephemeral where the platform
        can, a DM instead of a channel post where it can't (Discord mentions). Telegram groups can do
        neither, so a private line may still be seen there: no line carries a secret (a link code) unless
        `Incoming.private` says nobody else is in the chat."""
        ...

    def stream(self, stop: str | None = None) -> AnswerStream:
        """Start a streamed answer. `stop` is the id of the answer's Stop control, where the platform
        shows one to the asker (a button): pressing it calls `Core.stop(stop, by=...)`."""
        ...

    async def menu(self, menu: Menu) -> None:
        """Offer a choice; platforms without a native widget send `menu.as_text()`."""
        ...
