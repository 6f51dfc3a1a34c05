"""One paid answer, for every caller: /ask in chat and the OpenAI-compatible gateway alike.

quote the worst case at the request's start → `Ledger.reserve` (clamps the output limit; the caller's
step, since chat may first leave history out) → `Paying`: the provider's stream into the caller's sink →
settle the reported usage, or the bound of what the sink took when no usage arrived, or release when it
took nothing. The money rules live here once, so a chat answer and an API answer are charged alike:

- a failure before the sink took any text charges nothing (the hold is released);
- an answer that took text but never got to its end (the provider broke, the client left, a stop or a
  shutdown cut it) is charged the bound of what was received, never more than the hold, marked estimated;
- one whose stream ended with usage is charged that usage at the prices of the request's start, even when
  what the caller does afterwards (a final chat edit, the last HTTP write) fails;
- a settle the database can't take at that moment is kept and retried by the ledger (`settle_surely`).

`answer` runs the whole path for a caller that takes the messages as they are (the gateway), images in any
of them included; /ask uses the pieces, because it shapes the history to the allowance and may retry
without it. Both send images at the largest size the allowance pays (`bot.media.fitting`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from bot.conversation import estimate_tokens, input_token_bound
from bot.ledger import ChargeDetail, Hold, Quote
from bot.media.fitting import largest_affordable
from bot.media.images import CheckedImage
from bot.media.vision import family_for, seeing_models
from bot.money import format_usd
from bot.providers.base import ChatMessage, ChatRequest, ImagePart, Sampling, TextDelta, TokenUsage
from bot.refusals import CannotSee, PromptTooLarge

if TYPE_CHECKING:  # types only: importing bot.commands here would import /ask, which imports this
    from bot.commands.base import Services
    from bot.commands.model import PricedModel

log = logging.getLogger(__name__)

# The shortest answer worth paying for; below this the allowance is treated as spent.
MIN_OUTPUT_TOKENS = 16

# Where the text goes as it arrives: a chat's streamed reply, an HTTP response. It may raise (a failed
# edit, a client gone): the answer is then cut and charged as far as it got.
Sink = Callable[[str], Awaitable[None]]


def check_fits(model: PricedModel, messages: tuple[ChatMessage, ...]) -> None:
    """Refuse (`PromptTooLarge`) messages that leave no room for even a short answer in the model's
    context: paying for a sure failure helps nobody."""
    window = model.rates.context_window
    tokens = estimate_tokens(messages)
    if window and tokens + MIN_OUTPUT_TOKENS > window:
        raise PromptTooLarge(model.resolved.id, tokens, window)


def quote(
    services: Services, model: PricedModel, messages: tuple[ChatMessage, ...], at: datetime, max_output: int
) -> Quote:
    """The worst case of sending `messages` at the prices of `at`: their input bound, and as much output as
    `max_output`, the window and the model's own output limit (OpenRouter lists it; asking more is
    refused) leave."""
    resolved = model.resolved
    window = model.rates.context_window
    if window:
        max_output = min(max_output, window - estimate_tokens(messages))
    if model.rates.max_output:
        max_output = min(max_output, model.rates.max_output)
    return services.pricer.quote(
        resolved.id,
        resolved.spec.price_provider,
        at=at,
        input_tokens=input_token_bound(messages),
        max_output_tokens=max_output,
        min_output_tokens=MIN_OUTPUT_TOKENS,
    )


def received_bound(quote: Quote, hold: Hold, received_bytes: int) -> int:
    """What an answer that ended without usage could have cost: the input at its bound and one output
    token per UTF-8 byte received (byte-level BPE never yields more tokens than bytes), never more than the
    hold. Output the model never sent as text (hidden reasoning) is not in it: that is the owner's."""
    return min(hold.amount, quote.worst_case(received_bytes))


class Paying:
    """One reserved answer: streams into a sink and, on leaving `async with`, settles or releases its hold
    by the rules of the module docstring, whatever ended the block."""

    def __init__(self, services: Services, model: PricedModel, quote: Quote, hold: Hold, started: datetime):
        self._services = services
        self.model, self.quote, self.hold, self.started = model, quote, hold, started
        self.shown = False  # the sink took text: from now on the answer is paid for
        self.received_bytes = 0  # UTF-8 bytes of text received so far: they bound its tokens
        self.usage: TokenUsage | None = None
        self.ended = False  # the provider's stream got to its end: its last usage report is the final one
        self.charged: int | None = None  # nano-dollars, once settled (0 when released)

    @property
    def clamped(self) -> bool:
        """Whether the ledger cut the output limit to what the allowance can pay."""
        return self.hold.max_output_tokens < self.quote.max_output_tokens

    async def stream(
        self, messages: tuple[ChatMessage, ...], sink: Sink, sampling: Sampling | None = None
    ) -> None:
        """One call to the provider with the reserved output limit; text goes to `sink` as it comes and
        usage reports (cumulative) are kept. May be called again after a failure that showed nothing."""
        resolved = self.model.resolved
        request = ChatRequest(resolved.name, messages, self.hold.max_output_tokens, sampling or Sampling())
        async for event in resolved.provider.stream(request):
            if isinstance(event, TextDelta):
                if event.text:
                    self.shown = True
                    self.received_bytes += len(event.text.encode("utf-8"))
                    await sink(event.text)
            else:
                self.usage = event.usage
        self.ended = True

    async def __aenter__(self) -> Paying:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        ledger = self._services.ledger
        if error is not None and not self.shown:  # nothing reached anyone: nothing is charged
            await ledger.release_surely(self.hold)
            self.charged = 0
            return
        # only a stream that ended has reported all its usage (a cut one may have sent a running count,
        # such as Anthropic's input tokens at the start): else the bound of the text received
        await self._settle(self.usage if self.ended else None)

    async def _settle(self, usage: TokenUsage | None) -> None:
        """Charge the exact cost at the prices of the request's start, or when the provider never said what
        it used the bound of the text received (estimated). Written now, or by the ledger's retrier when
        the database can't take it at this moment."""
        services, resolved, hold = self._services, self.model.resolved, self.hold
        if usage is None:
            bound = received_bound(self.quote, hold, self.received_bytes)
            log.warning(
                "%s: no usage reported; charging the bound of the text received, %s of the hold %s "
                "(estimated)",
                resolved.id,
                format_usd(bound),
                format_usd(hold.amount),
            )
            cost, estimated, usage = bound, True, TokenUsage()
        else:
            try:
                price_provider = resolved.spec.price_provider
                cost = services.pricer.cost(resolved.id, price_provider, usage, at=self.started)
                estimated = False
            except Exception:  # a hold left open would block the allowance until the next restart
                log.exception(
                    "%s: cannot price the reported usage; charging the hold (estimated)", resolved.id
                )
                cost, estimated = hold.amount, True
        detail = ChargeDetail(model=resolved.id, tokens=usage, estimated=estimated)
        charged = await services.ledger.settle_surely(hold, cost, detail)
        self.charged = min(cost, hold.amount) if charged is None else charged  # None: the retrier writes it


@dataclass(frozen=True)
class Answered:
    """A finished answer: its usage (None when the provider reported none), what was charged in
    nano-dollars, the output limit it had (`clamped`: cut to what the allowance could pay) and whether
    its images went smaller than asked to fit the allowance (`shrunk`)."""

    usage: TokenUsage | None
    charged: int
    max_output_tokens: int
    clamped: bool
    shrunk: bool = False


@dataclass(frozen=True)
class PromptImage:
    """A checked image (`bot.media.attachments`) and the message it goes with, by its index in the
    messages; `low`: the asker wants only a low-detail look (OpenAI's `detail: "low"`)."""

    message: int
    image: CheckedImage
    low: bool = False


async def answer(
    services: Services,
    user: str,
    model: PricedModel,
    messages: tuple[ChatMessage, ...],
    sink: Sink,
    *,
    max_output: int,
    sampling: Sampling | None = None,
    images: tuple[PromptImage, ...] = (),
) -> Answered:
    """Answer `messages` as they are, with `images` in theirs, paid from `user`'s allowance: raises the
    refusals (`CannotSee`, `PromptTooLarge`, the ledger's `CapReached` and `Blocked`) before any call, and
    `ProviderError` (hold released) when the provider fails before any text; a failure after text is
    charged as far as it got, then raised. Images go at the largest size the allowance pays, as in chat."""
    listed = services.pricer.openrouter  # OpenRouter's list says which of its models take images
    family = family_for(model.resolved.id, listed)
    if images and family is None:
        raise CannotSee(model.resolved.id, seeing_models(services.providers.configured(), listed))

    async def reserve(parts: tuple[ImagePart, ...]) -> tuple[tuple[ChatMessage, ...], datetime, Quote, Hold]:
        sent = _with_images(messages, images, parts)
        check_fits(model, sent)
        started = services.clock()  # the hold and the charge are both priced at the request's start
        worst = quote(services, model, sent, started, max_output)
        return sent, started, worst, await services.ledger.reserve(user, worst)

    low = [image.low for image in images]
    reserved, shrunk = await largest_affordable(family, [i.image for i in images], reserve, low=low)
    sent, started, worst, hold = reserved
    paying = Paying(services, model, worst, hold, started)
    async with paying:
        await paying.stream(sent, sink, sampling)
    assert paying.charged is not None
    return Answered(paying.usage, paying.charged, hold.max_output_tokens, paying.clamped, shrunk)


def _with_images(
    messages: tuple[ChatMessage, ...], images: tuple[PromptImage, ...], parts: tuple[ImagePart, ...]
) -> tuple[ChatMessage, ...]:
    """`messages` with each image part (as sized for this attempt) in the message it came with."""
    if not images:
        return messages
    placed: dict[int, list[ImagePart]] = {}
    for image, part in zip(images, parts, strict=True):
        placed.setdefault(image.message, []).append(part)
    return tuple(
        dataclasses.replace(message, images=(*message.images, *placed[i])) if i in placed else message
        for i, message in enumerate(messages)
    )
