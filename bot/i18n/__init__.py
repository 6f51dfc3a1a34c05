"""The language the bot speaks to the person it is answering, and the words and formats in it.

Every line the bot writes itself goes through `_` (or `ngettext`), looked up in gettext catalogs
(`bot/i18n/locales/<language>/LC_MESSAGES/capbot.po`, compiled to `.mo` beside it) by the language of the
request at hand. The core sets that language once per message (`speaking`), so a wording function deep in
a command needs no argument threaded through to it: the language lives in a context variable, which each
task inherits from the one that started it. Outside any request (the owners' CLI and API, the logs) it is
English, the source language.

Strings declared at import time (command summaries, fixed lines) are marked with `N_` for extraction and
translated where they are shown: `_(command.summary)`.

Amounts, numbers, dates and relative times are formatted for the same language with Babel (`usd`,
`number`, `moment`, `weekday`), from the exact Decimal the ledger gives, never a float.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, format_timedelta
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

Language = Literal["en", "zh_Hans", "es", "fr"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
SOURCE: Language = "en"
DOMAIN = "capbot"
LOCALES = Path(__file__).parent / "locales"

# Each language in itself, as /lang and /spend name it.
LANGUAGE_NAMES: dict[Language, str] = {
    "en": "English",
    "zh_Hans": "简体中文",
    "es": "Español",
    "fr": "Français",
}

# What people type after /lang (and what clients report, once lowercased and cut at "-"/"_").
CHOICES: dict[str, Language] = {"en": "en", "zh": "zh_Hans", "es": "es", "fr": "fr"}

_current: ContextVar[Language] = ContextVar("capbot_language", default=SOURCE)


def N_(message: str) -> str:  # gettext's own name for "mark for extraction, translate later"
    """Mark a string for the catalogs without translating it yet (it is translated where shown)."""
    return message


@functools.cache
def catalog(language: Language) -> NullTranslations:
    """The compiled catalog of `language` (English, the source, is the messages themselves)."""
    if language == SOURCE:
        return NullTranslations()
    return Translations.load(str(LOCALES), [language], DOMAIN)


def current() -> Language:
    """The language of the request being answered (English outside any)."""
    return _current.get()


def _(message: str) -> str:
    """`message` in the current language."""
    return catalog(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or the plural form of the current language for `n` (Chinese has one form)."""
    return catalog(_current.get()).ngettext(singular, plural, n)


@contextmanager
def speaking(language: Language) -> Iterator[None]:
    """Word everything inside in `language` (and in the tasks started inside)."""
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def use(language: Language) -> None:
    """Speak `language` for the rest of the current task (the core's per-message task sets it once)."""
    _current.set(language)


def from_client(code: str | None) -> Language | None:
    """A client's language code or locale as one of ours, or None for a language we don't speak.

    Telegram's `language_code` (`zh-hans`, `zh-cn`, `zh`, `es-419`, `fr`), Discord's locales (`zh-CN`,
    `es-ES`, `fr`), POSIX `LANG` (`fr_FR.UTF-8`). Traditional Chinese (`zh-tw`, `zh-hant`, `zh-hk`) is
    not Simplified Chinese: it falls back to the default rather than being answered in the wrong script.
    """
    if not code:
        return None
    code = code.split(".", 1)[0].replace("_", "-").lower()
    base, _sep, region = code.partition("-")
    if base == "zh" and region in ("tw", "hk", "mo", "hant"):
        return None
    return CHOICES.get(base)


def terminal_language() -> str | None:
    """What the terminal's locale says (`LC_ALL`, `LC_MESSAGES`, `LANG`), for the console."""
    return os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")


def usd(amount: Decimal, *, least_places: int = 2) -> str:
    """An exact dollar amount in the current language's currency format, every digit of `amount` kept
    (the caller has rounded it: cents, or two significant digits below ten cents); `least_places=0`
    for prices per million tokens, shown as written ($2.5, $3)."""
    locale = _babel_locale(_locale())
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (least_places, max(pattern.frac_prec[1], least_places))
    shown: str = pattern.apply(
        amount, locale, currency="USD", currency_digits=False, decimal_quantization=False
    )
    return shown


def number(value: int | Decimal) -> str:
    """A count or a price figure with the current language's separators (`1,234`, `1 234`, `1.234`)."""
    return format_decimal(value, locale=_locale(), decimal_quantization=False)


def moment(at: datetime, now: datetime) -> str:
    """A moment in UTC for people: the date in the current language, the time on the 24-hour UTC clock,
    then how far away it is ("Dec 1, 2026 00:00 UTC (in 8 days)", "1 déc. 2026 00:00 UTC (dans 8 jours)").
    Relative times switch unit only at two of the larger one ("in 36 hours", then "in 2 days"), so a reset
    stays precise when it is near."""
    locale = _locale()
    when = (
        f"{format_skeleton('yMMMd', at, locale=locale)} {format_time(at, 'HH:mm', tzinfo=UTC, locale=locale)}"
    )
    relative = format_timedelta(max(at - now, timedelta(0)), threshold=2, add_direction=True, locale=locale)
    return _("{date} UTC ({relative})").format(date=when, relative=relative)


def weekday(day: date) -> str:
    """A day's short name ("Mon", "lun.", "周一")."""
    return format_date(day, "EEE", locale=_locale())


def _locale() -> str:
    return _current.get()


@functools.cache
def _babel_locale(language: str) -> Locale:
    return Locale.parse(language)
