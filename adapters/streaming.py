"""The one streaming loop every chat platform shares: throttled progress, splitting, flood waits.

A platform supplies a `Messenger` (send a message, edit one, or show a draft where the platform has
drafts); `StreamingAnswer` decides when to show progress and how to split a long answer, so Telegram and
Discord behave the same way. Progress is best effort (skipped under flood control or when the outgoing
scheduler drops it); the final text is always delivered.

Progress is shown from a background task, one call at a time, so a slow platform call never holds up the
model's stream: a platform call that waits its turn in a queue (a rate limiter, Telegram's flood control)
would otherwise make every word wait for its own edit, turning one answer into dozens of queued edits.
While a call is in flight the text simply grows; the next edit (or the final one) shows all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Callable
from typing import Any, Protocol

from bot.incoming import ClosingStream

log = logging.getLogger(__name__)

CURSOR = " ▌"
FENCE = "```"


class FloodWait(Exception):
    """The platform asked us to wait before sending again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"flood control: retry after {retry_after}s")
        self.retry_after = retry_after


class Skipped(Exception):
    """The platform's outgoing scheduler chose not to send a progress call (under load): nothing went out,
    and that is fine; the next progress call or the final text shows everything."""


class DraftsRefused(Exception):
    """The chat does not take drafts: show this answer's progress by sending and editing instead."""


class Messenger(Protocol):
    """One chat's calls. `final` marks the answer's final text (never skipped by a scheduler, and without
    a Stop control); progress is everything else.

    A messenger whose `drafts` is true streams progress as a draft (`draft`), an ephemeral preview the
    platform replaces with the final message, so an answer costs one `send` per message in the end.
    """

    @property
    def drafts(self) -> bool: ...

    async def send(self, text: str, *, final: bool) -> Any:
        """Send a new message and return a handle to edit it later."""
        ...

    async def edit(self, handle: Any, text: str, *, final: bool) -> None: ...

    async def draft(self, text: str) -> None:
        """Show `text` as the draft of the message being written (raise `DraftsRefused` if the chat can't)."""
        ...


def _cut_point(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The longest prefix within `limit`, preferring a paragraph, then a line, then a word boundary."""
    lo, hi = 1, len(text)
    while lo < hi:  # binary search on the measured length: measure may count UTF-16 units
        mid = (lo + hi + 1) // 2
        if measure(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    fit = lo
    for sep in ("\n\n", "\n", " "):
        at = text.rfind(sep, 0, fit)
        if at > fit // 3:  # a boundary that keeps chunks reasonably full
            return at + len(sep)
    while fit > 1 and _joins(text, fit):  # no space to cut at: at least never split one visible character
        fit -= 1
    return fit


_ZWJ = "\u200d"


def _joins(text: str, at: int) -> bool:
    """Whether text[at] belongs to the character before it: an accent, a skin tone, a variation selector,
    a zero-width joiner (👨‍👩‍👧 is five code points), an emoji tag, or the second flag letter of a pair."""
    char, before = text[at], text[at - 1]
    if char == _ZWJ or before == _ZWJ or unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    if "\U0001f3fb" <= char <= "\U0001f3ff" or "\U000e0020" <= char <= "\U000e007f":
        return True
    if _regional(char) and _regional(before):  # flags are pairs: cut only between pairs
        run = 0
        while at - run - 1 >= 0 and _regional(text[at - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split `text` into chunks of at most `limit` (as `measure` counts), losing nothing.

    A chunk that ends inside a code fence is closed with a fence and the next one reopens it with the
    same language line, so each chunk renders on its own.
    """
    chunks: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if measure(rest) <= limit:
            chunks.append(rest)
            break
        budget = limit - len(FENCE) - 1  # room to close a fence if we end inside one
        cut = _cut_point(rest, max(budget, 1), measure)
        head = rest[:cut]
        fence_open, language = _open_fence(head)
        reopen = ""
        if fence_open:
            head = head.rstrip("\n") + "\n" + FENCE
            reopen = FENCE + language + "\n"
        chunks.append(head.rstrip() if not fence_open else head)
        rest = rest[cut:].lstrip("\n") if not fence_open else rest[cut:]
    return [c for c in chunks if c.strip()]


def _open_fence(text: str) -> tuple[bool, str]:
    """Whether `text` ends inside a ``` block, and that block's language tag."""
    inside, language = False, ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(FENCE):
            inside = not inside
            language = stripped[len(FENCE) :].strip() if inside else ""
    return inside, language


class StreamingAnswer(ClosingStream):
    """An `AnswerStream` over a `Messenger`: progress at most every `interval` seconds (the first no sooner
    than `first_delay` after the answer began), split at `limit`.

    An answer that ends before its first progress call went out is one message: the final text, with the
    pending call withdrawn. Only a call that has not started is withdrawn: one cut in flight could still
    land (a message we can't edit, or a stale edit after the final one); a scheduler drops progress it
    can't send soon (`Skipped`) rather than keep the final text waiting.
    """

    def __init__(
        self,
        messenger: Messenger,
        *,
        limit: int,
        measure: Callable[[str], int] = len,
        interval: float = 1.0,
        first_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        max_final_attempts: int = 5,
    ) -> None:
        self._messenger = messenger
        self._limit = limit
        self._measure = measure
        self._interval = interval
        self._clock = clock
        self._max_final_attempts = max_final_attempts
        self._text = ""
        self._handles: list[Any] = []  # messages sent so far, in order
        self._shown: list[str] = []  # what each of them currently shows
        self._first_at = clock() + first_delay  # no progress before this
        self._next_edit = 0.0
        self._progress: asyncio.Task[None] | None = None  # the progress call in flight, if any
        self._calling = False  # the progress call has gone to the platform: it is waited for, never cut
        self.closed = False

    @property
    def text(self) -> str:
        return self._text

    async def write(self, delta: str) -> None:
        self._text += delta
        now = self._clock()
        busy = self._progress is not None and not self._progress.done()
        if busy or not self._text.strip() or now < self._next_edit:
            return
        self._next_edit = now + self._interval
        self._progress = asyncio.create_task(self._show_progress())
        await asyncio.sleep(0)  # let the call start now rather than at the next pause in the stream

    async def _show_progress(self) -> None:
        wait = self._first_at - self._clock()
        if wait > 0:  # pending: an answer that ends meanwhile withdraws this call
            await asyncio.sleep(wait)
        self._calling = True
        try:
            await self._show(self._text + CURSOR, final=False)  # the text as it is now
        except FloodWait as flood:
            self._next_edit = self._clock() + flood.retry_after  # skip progress edits meanwhile
        except Skipped:
            pass  # the scheduler had no room for progress: the next call shows it all
        except Exception:  # progress is best effort; the final delivery reports failures
            log.warning("intermediate edit failed", exc_info=True)
        else:  # a call that was slow to go through spaces out the next one
            self._next_edit = max(self._next_edit, self._clock() + self._interval)

    async def drain(self) -> None:
        """Wait until the progress call in flight (if any) is done: a caller that wants every write shown."""
        if self._progress is not None:
            await asyncio.wait([self._progress])

    async def close(self) -> str:
        """Deliver the whole answer, waiting out flood control; returns the text delivered."""
        self.closed = True
        progress = self._progress
        if progress is not None and not progress.done() and not self._calling:
            progress.cancel()  # it never went out: the final text is the one message
        await self.drain()  # a call that went out is never cut
        if not self._text.strip():
            return self._text
        for attempt in range(1, self._max_final_attempts + 1):
            try:
                await self._show(self._text, final=True)
                return self._text
            except FloodWait as wait:
                if attempt == self._max_final_attempts:
                    raise
                await asyncio.sleep(wait.retry_after)
        return self._text  # pragma: no cover - the loop returns or raises

    async def _show(self, text: str, *, final: bool) -> None:
        chunks = split_text(text, self._limit, self._measure)
        if not final and len(chunks) > 1 and chunks[-1].strip() == CURSOR.strip():
            chunks = chunks[:-1]
        for index, chunk in enumerate(chunks):
            done = final or index < len(chunks) - 1  # a chunk the text has grown past is final too
            if not done and self._messenger.drafts:
                try:
                    await self._messenger.draft(chunk)
                    continue
                except DraftsRefused:
                    pass  # the messenger remembers it: this and later progress is sent and edited
            if index < len(self._handles):
                if self._shown[index] != chunk:
                    await self._messenger.edit(self._handles[index], chunk, final=done)
                    self._shown[index] = chunk
            else:
                self._handles.append(await self._messenger.send(chunk, final=done))
                self._shown.append(chunk)
