"""/ask: the one path from a question to a paid, streamed answer.

history + prompt → price the worst case → ledger.reserve (clamps the output limit) → provider.stream →
reply.stream → usage → cost → ledger.settle. Every exit path settles or releases the hold: a failure
before any text charges nothing; an answer that shows text but never reports usage (the stream broke,
it ended without usage, it was stopped or the bot shut down) is charged the bound of what was received,
never more than the hold; one whose stream ended with usage is charged that usage even when its final
edit then fails or is cut. A settle the database can't take at that moment is kept and retried by the
ledger (`settle_surely`): the answer was delivered, so the person hears nothing about it. History never
prices a person out: when even a short answer with it is more than the allowance can pay, the oldest of
it is left out until an answer fits.
"""

from __future__ import annotations

import functools
import logging
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime

from bot.commands.base import Command, Context
from bot.commands.model import PricedModel, current_model, priced_model
from bot.conversation import build_prompt, estimate_tokens, input_token_bound, with_less_history
from bot.incoming import Argument, final_delivery
from bot.ledger import CapReached, ChargeDetail, Hold, Quote
from bot.money import format_usd
from bot.providers.base import ChatMessage, ChatRequest, Provider, ProviderError, TextDelta, TokenUsage
from bot.refusals import (
    CapReachedWithHistory,
    EmptyPrompt,
    ModelUnavailable,
    PromptTooLarge,
    UnknownModelChoice,
)
from bot.storage import DatabaseBusy

log = logging.getLogger(__name__)

# The shortest answer worth paying for; below this the allowance is treated as spent.
MIN_OUTPUT_TOKENS = 16
# Kinds of provider failure after which another model may do better.
FALLBACK_KINDS = frozenset({"rate_limited", "overloaded", "timeout", "unavailable", "malformed"})


@dataclass(frozen=True)
class Outcome:
    """A finished answer: what to store in the history and whether to say what was cut to fit the
    allowance (the length, the history sent)."""

    text: str
    usage: TokenUsage | None
    clamped: bool
    trimmed: bool


class StreamFailed(Exception):
    """The provider failed after text was shown; the hold was settled and the partial text kept."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


async def ask(ctx: Context) -> None:
    """/ask: the person's model, then each FALLBACK_MODELS entry while the failure is one another may not
    have (rate limits, outages); a model that failed after showing text is not followed by another."""
    prompt = ctx.args.strip()
    if not prompt:
        raise EmptyPrompt()
    services = ctx.services
    chosen = await current_model(services, ctx.user)
    candidates = [chosen, *(m for m in services.settings.fallback_models if m != chosen)]
    history = await services.conversations.history(ctx.incoming.conversation)
    question = ChatMessage("user", prompt)
    for attempt, model_id in enumerate(candidates):
        last = attempt == len(candidates) - 1
        try:
            model = priced_model(services, model_id)
        except UnknownModelChoice:
            if attempt == 0:
                raise
            log.warning("fallback model %s is not usable; skipped", model_id)
            continue
        try:
            outcome = await _answer(ctx, model, history, question)
        except ProviderError as error:
            if error.kind == "auth":
                key_env = model.resolved.spec.key_env or "its key"
                log.error("%s: the provider rejected the API key; check %s (%s)", model_id, key_env, error)
            else:
                log.warning("%s failed before answering: %s", model_id, error)
            if error.kind in FALLBACK_KINDS and not last:
                continue
            raise ModelUnavailable(model_id, error.kind) from None
        except StreamFailed as failed:
            await ctx.reply.text(
                f"(The answer was cut off: {model_id} failed mid-answer. "
                "You were charged what the answer may have used.)"
            )
            log.warning("%s failed mid-answer: %s", model_id, failed.error)
            return
        if attempt:
            log.info("answered by fallback model %s", model_id)
        try:
            await services.conversations.append(
                ctx.incoming.conversation, [question, ChatMessage("assistant", outcome.text)]
            )
        except DatabaseBusy:  # the answer was delivered and is paid for: only its history is lost
            log.warning("database busy: this exchange is left out of %s's history", ctx.user)
        usage = outcome.usage
        clamped = outcome.clamped and usage is not None and usage.output_tokens >= MIN_OUTPUT_TOKENS
        if clamped or outcome.trimmed:
            await ctx.reply.text(await _fit_note(ctx, clamped=clamped, trimmed=outcome.trimmed))
        return


async def _fit_note(ctx: Context, *, clamped: bool, trimmed: bool) -> str:
    """One line after an answer shaped to fit the allowance: what was cut, and what is left."""
    summary = await ctx.services.ledger.summary(ctx.user)
    remaining = format_usd(summary.remaining) if summary.remaining is not None else "unlimited"
    if trimmed and clamped:
        what = "Earlier messages were left out and the answer length was limited to fit your allowance"
    elif trimmed:
        what = "Earlier messages were left out to fit your allowance"
    else:
        what = "Answer length was limited to what your allowance can pay"
    return f"({what}; {remaining} left.)"


async def _answer(
    ctx: Context, model: PricedModel, history: list[ChatMessage], question: ChatMessage
) -> Outcome:
    """One model's attempt. Raises ProviderError when nothing was shown (hold released)."""
    services, settings = ctx.services, ctx.services.settings
    resolved = model.resolved
    window = model.rates.context_window
    budget = settings.history_tokens
    if window:
        budget = min(budget, max(window - settings.max_output_tokens, 0))
    built = build_prompt(settings.system_prompt, history, question, budget)
    tokens = estimate_tokens(built)
    if window and tokens + MIN_OUTPUT_TOKENS > window:
        raise PromptTooLarge(resolved.id, tokens, window)
    started = services.clock()  # the hold and the charge are both priced at the request's start
    hold, messages, quote = await _reserve(ctx, model, built, started)
    trimmed = len(messages) < len(built)
    relay = _Relay(ctx)
    try:
        try:
            await relay.run(resolved.provider, ChatRequest(resolved.name, messages, hold.max_output_tokens))
        except ProviderError as error:
            if error.kind != "context_too_long" or relay.shown or len(messages) <= 2:
                raise
            # the provider counts tokens differently than we estimate: drop the history once and retry
            log.info("%s: context too long; retrying without history", resolved.id)
            messages = build_prompt(settings.system_prompt, [], question, 0)
            await relay.run(resolved.provider, ChatRequest(resolved.name, messages, hold.max_output_tokens))
    except BaseException as error:  # a provider failure, a failed final edit, a stop, a shutdown
        if not relay.shown:  # nothing reached the person: nothing is charged
            await services.ledger.release_surely(hold)
            raise
        # text was shown: its usage when the stream got to its end, else the bound of the text received
        await _settle(ctx, model, quote, hold, relay.final_usage, relay.received_bytes, started)
        if isinstance(error, ProviderError):
            raise StreamFailed(error) from None
        raise
    await _settle(ctx, model, quote, hold, relay.usage, relay.received_bytes, started)
    clamped = hold.max_output_tokens < quote.max_output_tokens
    return Outcome(relay.text, relay.usage, clamped, trimmed)


def _quote(ctx: Context, model: PricedModel, messages: tuple[ChatMessage, ...], at: datetime) -> Quote:
    """The worst case of sending `messages` at the prices of `at`: their input bound, and as much output as
    the window and the model's own output limit (OpenRouter lists it; asking more is refused) leave."""
    settings, resolved = ctx.services.settings, model.resolved
    window = model.rates.context_window
    max_output = settings.max_output_tokens
    if window:
        max_output = min(max_output, window - estimate_tokens(messages))
    if model.rates.max_output:
        max_output = min(max_output, model.rates.max_output)
    return ctx.services.pricer.quote(
        resolved.id,
        resolved.spec.price_provider,
        at=at,
        input_tokens=input_token_bound(messages),
        max_output_tokens=max_output,
        min_output_tokens=MIN_OUTPUT_TOKENS,
    )


async def _reserve(
    ctx: Context, model: PricedModel, prompt: tuple[ChatMessage, ...], at: datetime
) -> tuple[Hold, tuple[ChatMessage, ...], Quote]:
    """Hold the worst case of `prompt` (the ledger clamps the output limit); returns the hold, the
    messages to send and their quote.

    When not even a short answer fits and history was part of the price, the oldest of it is left out
    until an answer fits what the refusal said was left, and the reserve is tried once more. What was left
    is only a hint (other answers may reserve meanwhile): the reserve stays the one atomic check, and a
    refusal then says the conversation was already left out (`CapReachedWithHistory`). When not even the
    question alone fits, the refusal is the ledger's own, as without history.
    """
    ledger = ctx.services.ledger
    quote = _quote(ctx, model, prompt, at)
    try:
        return await ledger.reserve(ctx.user, quote), prompt, quote
    except CapReached as refused:
        shorter = with_less_history(prompt)
        if not shorter:
            raise
        fitted = _most_history_within(ctx, model, shorter, refused.remaining, quote.max_output_tokens, at)
        if fitted is None:  # not even the question alone: the history is not what refuses it
            raise
        messages, quote = fitted
    left_out = len(prompt) - len(messages)
    log.info("%s: left out %d messages of history to fit the allowance", model.resolved.id, left_out)
    try:
        return await ledger.reserve(ctx.user, quote), messages, quote
    except CapReached as refused:
        raise CapReachedWithHistory(refused) from None


def _most_history_within(
    ctx: Context,
    model: PricedModel,
    prompts: list[tuple[ChatMessage, ...]],
    remaining: int,
    full_answer: int,
    at: datetime,
) -> tuple[tuple[ChatMessage, ...], Quote] | None:
    """The prompt keeping the most history (`prompts` go from more to less) whose worst case `remaining`
    can pay with a `full_answer` (output tokens), or failing that with a short one; None when not even a
    short answer to the question alone fits.

    A full answer comes first: a little less context beats an answer cut to a few words. For a fixed
    answer the price falls with every exchange left out, so the first prompt that fits is found by
    bisection, pricing only a handful of them.
    """

    @functools.cache
    def quote(index: int) -> Quote:
        return _quote(ctx, model, prompts[index], at)

    for answer in (full_answer, MIN_OUTPUT_TOKENS):

        def fits(index: int, answer: int = answer) -> bool:
            return quote(index).worst_case(answer) <= remaining

        found = bisect_left(range(len(prompts)), True, key=fits)
        if found < len(prompts):
            return prompts[found], quote(found)
    return None


def _received_bound(quote: Quote, hold: Hold, received_bytes: int) -> int:
    """What an answer that ended without usage could have cost: the input at its bound and one output
    token per UTF-8 byte received (byte-level BPE never yields more tokens than bytes), never more than the
    hold. Output the model never sent as text (hidden reasoning) is not in it: that is the owner's."""
    return min(hold.amount, quote.worst_case(received_bytes))


class _Relay:
    """Relays text deltas to the chat and keeps the last (cumulative) usage report."""

    def __init__(self, ctx: Context) -> None:
        self._reply = ctx.reply
        self.shown = False
        self.received_bytes = 0  # UTF-8 bytes of text received so far: they bound its tokens
        self.text = ""
        self.usage: TokenUsage | None = None
        self.ended = False  # the provider's stream got to its end: its last usage report is the final one

    @property
    def final_usage(self) -> TokenUsage | None:
        """The usage to charge: only a stream that ended has reported all of it (a cut one may have sent
        a running count, such as Anthropic's input tokens at the start)."""
        return self.usage if self.ended else None

    async def run(self, provider: Provider, request: ChatRequest) -> None:
        async with self._reply.stream() as out:
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    if event.text:
                        self.shown = True
                        self.received_bytes += len(event.text.encode("utf-8"))
                        await out.write(event.text)
                else:
                    self.usage = event.usage
            self.ended = True
            self.text = await final_delivery(out)  # a stop during the final edit does not cut it


async def _settle(
    ctx: Context,
    model: PricedModel,
    quote: Quote,
    hold: Hold,
    usage: TokenUsage | None,
    received_bytes: int,
    started: datetime,
) -> None:
    """Charge the exact cost at the prices of the request's start, or when the provider never said what it
    used the bound of the text received (estimated). Written now, or by the ledger's retrier when the
    database can't take it at this moment."""
    services = ctx.services
    resolved = model.resolved
    if usage is None:
        bound = _received_bound(quote, hold, received_bytes)
        log.warning(
            "%s: no usage reported; charging the bound of the text received, %s of the hold %s (estimated)",
            resolved.id,
            format_usd(bound),
            format_usd(hold.amount),
        )
        cost, estimated, usage = bound, True, TokenUsage()
    else:
        try:
            price_provider = resolved.spec.price_provider
            cost, estimated = services.pricer.cost(resolved.id, price_provider, usage, at=started), False
        except Exception:  # a hold left open would block the allowance until the next restart
            log.exception("%s: cannot price the reported usage; charging the hold (estimated)", resolved.id)
            cost, estimated = hold.amount, True
    detail = ChargeDetail(model=resolved.id, tokens=usage, estimated=estimated)
    await services.ledger.settle_surely(hold, cost, detail)


PROMPT = Argument("prompt", "Your question", required=True)
ASK = Command(
    "ask", "Ask the model a question", usage="/ask <question>", argument=PROMPT, streams=True, run=ask
)
COMMANDS = [ASK]
