"""/ask: the one path from a question to a paid, streamed answer.

history + prompt → price the worst case → ledger.reserve (clamps the output limit) → provider.stream →
reply.stream → usage → cost → ledger.settle. Every exit path settles or releases the hold: a failure
before any text charges nothing, a failure after text charges the hold (we cannot know what was used).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.commands.base import Command, Context
from bot.commands.model import PricedModel, current_model, priced_model
from bot.conversation import build_prompt, estimate_tokens, input_token_bound
from bot.incoming import Argument
from bot.ledger import ChargeDetail, Hold
from bot.money import format_usd
from bot.providers.base import ChatMessage, ChatRequest, Provider, ProviderError, TextDelta, TokenUsage
from bot.refusals import EmptyPrompt, ModelUnavailable, PromptTooLarge, UnknownModelChoice

log = logging.getLogger(__name__)

# The shortest answer worth paying for; below this the allowance is treated as spent.
MIN_OUTPUT_TOKENS = 16
# Kinds of provider failure after which another model may do better.
FALLBACK_KINDS = frozenset({"rate_limited", "overloaded", "timeout", "unavailable", "malformed"})


@dataclass(frozen=True)
class Outcome:
    """A finished answer: what to store in the history and whether to say the length was limited."""

    text: str
    usage: TokenUsage | None
    charged: int
    clamped: bool


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
        await services.conversations.append(
            ctx.incoming.conversation, [question, ChatMessage("assistant", outcome.text)]
        )
        if outcome.clamped and outcome.usage and outcome.usage.output_tokens >= MIN_OUTPUT_TOKENS:
            summary = await services.ledger.summary(ctx.user)
            remaining = format_usd(summary.remaining) if summary.remaining is not None else "unlimited"
            await ctx.reply.text(
                f"(Answer length was limited to what your allowance can pay; {remaining} left.)"
            )
        return


async def _answer(
    ctx: Context, model: PricedModel, history: list[ChatMessage], question: ChatMessage
) -> Outcome:
    """One model's attempt. Raises ProviderError when nothing was shown (hold released)."""
    services, settings = ctx.services, ctx.services.settings
    resolved, rates = model.resolved, model.rates
    window = rates.context_window
    budget = settings.history_tokens
    if window:
        budget = min(budget, max(window - settings.max_output_tokens, 0))
    messages = build_prompt(settings.system_prompt, history, question, budget)
    tokens = estimate_tokens(messages)
    if window and tokens + MIN_OUTPUT_TOKENS > window:
        raise PromptTooLarge(resolved.id, tokens, window)
    max_output = (
        settings.max_output_tokens if not window else min(settings.max_output_tokens, window - tokens)
    )
    if rates.max_output:  # the model's own output limit (OpenRouter lists it): asking more is refused
        max_output = min(max_output, rates.max_output)
    started = services.clock()  # the hold and the charge are both priced at the request's start
    quote = services.pricer.quote(
        resolved.id,
        resolved.spec.price_provider,
        at=started,
        input_tokens=input_token_bound(messages),
        max_output_tokens=max_output,
        min_output_tokens=MIN_OUTPUT_TOKENS,
    )
    hold = await services.ledger.reserve(ctx.user, quote)
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
    except BaseException as error:
        if not relay.shown:  # nothing reached the person: nothing is charged
            await asyncio.shield(services.ledger.release(hold))
            raise
        await _settle(ctx, model, hold, None, started)  # text shown, usage unknown: charge the hold
        if isinstance(error, ProviderError):
            raise StreamFailed(error) from None
        raise
    charged = await _settle(ctx, model, hold, relay.usage, started)
    return Outcome(relay.text, relay.usage, charged, clamped=hold.max_output_tokens < max_output)


class _Relay:
    """Relays text deltas to the chat and keeps the last (cumulative) usage report."""

    def __init__(self, ctx: Context) -> None:
        self._reply = ctx.reply
        self.shown = False
        self.text = ""
        self.usage: TokenUsage | None = None

    async def run(self, provider: Provider, request: ChatRequest) -> None:
        async with self._reply.stream() as out:
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    if event.text:
                        self.shown = True
                        await out.write(event.text)
                else:
                    self.usage = event.usage
            self.text = await out.close()


async def _settle(
    ctx: Context, model: PricedModel, hold: Hold, usage: TokenUsage | None, started: datetime
) -> int:
    """Charge the exact cost at the prices of the request's start, or the whole hold when the provider
    never said what it used."""
    services = ctx.services
    resolved = model.resolved
    if usage is None:
        log.warning(
            "%s sent no usage; charging the hold %s (estimated)", resolved.id, format_usd(hold.amount)
        )
        cost, estimated, usage = hold.amount, True, TokenUsage()
    else:
        try:
            price_provider = resolved.spec.price_provider
            cost, estimated = services.pricer.cost(resolved.id, price_provider, usage, at=started), False
        except Exception:  # a hold left open would block the allowance until the next restart
            log.exception("%s: cannot price the reported usage; charging the hold (estimated)", resolved.id)
            cost, estimated = hold.amount, True
    detail = ChargeDetail(model=resolved.id, tokens=usage, estimated=estimated)
    return await asyncio.shield(services.ledger.settle(hold, cost, detail))


PROMPT = Argument("prompt", "Your question", required=True)
ASK = Command(
    "ask", "Ask the model a question", usage="/ask <question>", argument=PROMPT, streams=True, run=ask
)
COMMANDS = [ASK]
