"""Price files: bot/prices.toml, bundled with capbot, then the owner's PRICES_FILE (later rows win).

A row prices a model ("provider/model") or a whole provider ("provider/*") flat, in USD per million tokens;
a transcription model billed by the minute of audio (Whisper on Groq or OpenAI) has `audio_minute` instead.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

BUNDLED_FILE = "bot/prices.toml"


class PriceFileError(ValueError):
    """The owner's price file cannot be read; start-up stops with this line."""


@dataclass(frozen=True)
class PriceFileRow:
    """One row of a price file: USD per million tokens, flat (the files have no tiers)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    context_window: int | None
    per_request: Decimal = Decimal(0)  # USD per request, e.g. the search fee of a model that always searches
    source: str = BUNDLED_FILE
    deliberate: bool = False  # the owner's file, or a row marked `free = true`: a zero price is meant
    audio_minute: Decimal | None = None  # USD per minute of audio transcribed, for models billed by time

    @property
    def usable(self) -> bool:
        """For chat: a row priced by the minute of audio prices no chat, so it never makes one free."""
        return self.audio_minute is None and (self.deliberate or self.input > 0 or self.output > 0)

    @property
    def usable_for_audio(self) -> bool:
        if self.audio_minute is None:
            return self.usable
        return self.deliberate or self.audio_minute > 0


def _decimal(entry: Mapping[str, Any], key: str, where: str, default: Decimal | None = None) -> Decimal:
    raw = entry.get(key)
    if raw is None:
        if default is None:
            raise PriceFileError(f"{where}: '{key}' is missing")
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise PriceFileError(f"{where}: '{key}' is not a number: {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise PriceFileError(f"{where}: '{key}' must be a price of zero or more, not {raw!r}")
    return value


def load_overrides(*paths: Path | None) -> dict[str, PriceFileRow]:
    """Read price files in order (later ones win). Missing optional files are an error when named."""
    found: dict[str, PriceFileRow] = {}
    sources: list[tuple[str, str]] = [
        (BUNDLED_FILE, resources.files("bot").joinpath("prices.toml").read_text())
    ]
    for path in paths:
        if path is None:
            continue
        try:
            sources.append((str(path), path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise PriceFileError(f"PRICES_FILE: cannot read {path}: {exc.strerror}") from None
    for name, text in sources:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PriceFileError(f"{name}: not valid TOML: {exc}") from None
        for model_id, entry in data.get("models", {}).items():
            where = f"{name}: {model_id}"
            if "/" not in model_id or not isinstance(entry, dict):
                raise PriceFileError(f'{where}: expected [models."provider/model"] with input and output')
            window = entry.get("context_window")
            if window is not None and (not isinstance(window, int) or window <= 0):
                raise PriceFileError(f"{where}: context_window must be a positive whole number")
            free = entry.get("free", False)
            if not isinstance(free, bool):
                raise PriceFileError(f"{where}: free must be true or false")
            per_minute = (
                _decimal(entry, "audio_minute", where, Decimal(0)) if "audio_minute" in entry else None
            )
            no_tokens = (
                Decimal(0) if per_minute is not None else None
            )  # a per-minute row needs no token price
            inp = _decimal(entry, "input", where, no_tokens)
            found[model_id.lower()] = PriceFileRow(
                input=inp,
                output=_decimal(entry, "output", where, no_tokens),
                cached_input=_decimal(entry, "cached_input", where, inp),
                context_window=window,
                per_request=_decimal(entry, "per_request", where, Decimal(0)),
                source=_file_source(name, free),
                deliberate=name != BUNDLED_FILE or free,
                audio_minute=per_minute,
            )
    return found


def _file_source(name: str, free: bool) -> str:
    if name != BUNDLED_FILE:
        return f"{name} (PRICES_FILE)"
    return f"{name} (bundled with capbot{', free by design' if free else ''})"
