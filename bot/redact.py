"""Keep the owner's keys out of every log line, whatever logged it (ours, aiohttp, the platform SDKs).

A filter on each root handler rewrites the formatted message and any traceback text, replacing every
configured secret with "[redacted]". Handler filters see records from all loggers, unlike logger filters.

Not only whole keys: APIs echo parts of a bad key back ("Incorrect API key provided: sk-abc...wxyz",
"Consumer 'api_key:AIza...' suspended", a key cut at a line break), so any run of `FRAGMENT` or more
characters of a secret is masked, wherever in the secret it comes from. Every `FRAGMENT`-character window
of every secret goes into one set; a scan of the text marks each position where a window starts, and each
maximal run of marked characters becomes one mask. That is one set lookup per character of text, however
many secrets there are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "[redacted]"
FRAGMENT = 8  # the shortest run of a secret that is masked on its own
SHORTEST = 4  # secrets shorter than this are not masked at all (they would mask ordinary words)


class Redactor:
    """Masks configured secrets, and any run of `FRAGMENT` or more of their characters, in text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # longest first, so a key that contains another is masked whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= SHORTEST}, key=len, reverse=True)
        self._windows = {
            secret[i : i + FRAGMENT] for secret in self.secrets for i in range(len(secret) - FRAGMENT + 1)
        }

    def redact(self, text: str) -> str:
        for secret in self.secrets:  # short secrets have no windows; long ones are masked whole first
            text = text.replace(secret, MASK)
        if not self._windows or len(text) < FRAGMENT:
            return text
        covered_to = 0  # end of the run of marked characters being built
        runs: list[tuple[int, int]] = []
        for start in range(len(text) - FRAGMENT + 1):
            if text[start : start + FRAGMENT] in self._windows:
                end = start + FRAGMENT
                if runs and start <= covered_to:
                    runs[-1] = (runs[-1][0], end)
                else:
                    runs.append((start, end))
                covered_to = end
        if not runs:
            return text
        pieces, done = [], 0
        for start, end in runs:
            pieces += [text[done:start], MASK]
            done = end
        pieces.append(text[done:])
        return "".join(pieces)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redactor = Redactor(secrets)
        self.secrets = self.redactor.secrets

    def redact(self, text: str) -> str:
        return self.redactor.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redaction(secrets: Iterable[str], logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach one filter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    found = RedactingFilter(secrets)
    for handler in target.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(found)
    return found
