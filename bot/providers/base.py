"""What every wire format takes and gives back: plain values, no money, no ledger.

A provider turns a `ChatRequest` into a stream of `TextDelta` and `UsageUpdate` events, or raises one of
the `ProviderError` kinds below. Usage updates are cumulative: the last one wins.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from bot.tokens import TokenCounts

Role = Literal["system", "user", "assistant"]


Detail = Literal["low", "high"]


@dataclass(frozen=True)
class ImagePart:
    """An image sent with a message, already checked and sized for the model it goes to (`bot.media`).

    `tokens` is the most input tokens the model can bill for it, by the provider's own formula for the
    image as sent: the input bound counts it, so the reserved worst case includes the image.
    """

    data: bytes  # the encoded image exactly as sent
    mime: str  # "image/jpeg", "image/png", "image/webp" or "image/gif"
    tokens: int
    detail: Detail = "high"  # OpenAI's `detail`; the other formats size the image itself instead

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        """The image inline, as OpenAI-compatible APIs take it: never a URL that could carry a token."""
        return f"data:{self.mime};base64,{self.base64()}"


@dataclass(frozen=True)
class ChatMessage:
    """One turn in the neutral form every wire format translates from (and the history stores).

    `images` go with the message they came with. In chat that is only the question: the history keeps a
    text stand-in for them (`[image]`), so a follow-up does not pay for the image again. The gateway sends
    whatever history its client sends, images in earlier turns included (the client's choice, paid for)."""

    role: Role
    content: str
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True)
class Sampling:
    """How to sample, as the asker set it (the gateway's clients); None or empty: the provider's default.
    Each wire format sends the ones it takes under its own names; none of them changes what is charged."""

    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatRequest:
    """One call. `max_output_tokens` is what the ledger reserved for: a provider must always send it."""

    model: str  # the provider's own model name, without the "provider/" prefix
    messages: tuple[ChatMessage, ...]
    max_output_tokens: int
    sampling: Sampling = Sampling()

    def sampling_fields(self, temperature: str, top_p: str, stop: str) -> dict[str, object]:
        """The sampling settings that were set, under a wire format's names for them."""
        fields: dict[str, object] = {temperature: self.sampling.temperature, top_p: self.sampling.top_p}
        fields[stop] = list(self.sampling.stop) or None
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class TokenUsage(TokenCounts):
    """Tokens as the provider reported them (see `TokenCounts` for what includes what).

    `reported_cost_usd` is a cost the provider itself reported (OpenRouter), used as is.
    """

    reported_cost_usd: Decimal | None = None


@dataclass(frozen=True)
class TextDelta:
    """Text to show as it arrives; once one with text has been shown, the call can no longer be retried."""

    text: str


@dataclass(frozen=True)
class UsageUpdate:
    """A cumulative usage report: the last one replaces the earlier ones, never adds to them."""

    usage: TokenUsage


StreamEvent = TextDelta | UsageUpdate


class Provider(Protocol):
    """One configured endpoint of one wire format."""

    name: str  # catalog name, e.g. "openai"

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text and usage events; raises `ProviderError` (never a library's exception) on failure."""
        ...


ErrorKind = Literal[
    "auth",  # 401/403: the owner's key was rejected
    "rate_limited",  # 429
    "overloaded",  # 5xx, Anthropic 529
    "context_too_long",  # the prompt does not fit the model
    "bad_request",  # any other 4xx
    "timeout",  # connect or read timeout
    "malformed",  # a stream we could not parse, or one cut short
    "unavailable",  # connection refused, DNS, and the like
]


class ProviderError(Exception):
    """A failure talking to a provider. Its text is safe to log: it never contains a key."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider or 'provider'}: {kind}: {detail}")
        self.kind: ErrorKind = kind
        self.detail = detail
        self.provider = provider
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Failures that may pass by themselves; a rejected key or a bad request would only fail again."""
        return self.kind in ("rate_limited", "overloaded", "timeout", "unavailable")
