"""/ask: the one path from a question to a paid, streamed answer in a chat.

history + prompt → `bot.answering` (price the worst case → ledger.reserve, which clamps the output limit →
provider.stream → reply.stream → usage → cost → ledger.settle, by the money rules written there once for
chat and the gateway alike). What is chat's alone stays here: the history and its budget, leaving the
oldest of it out when even a short answer with it is more than the allowance can pay, a retry without it
when the provider finds the context too long, the fallback models, and the notes said after an answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime

from bot.answering import MIN_OUTPUT_TOKENS, Paying, check_fits, quote
from bot.commands.base import Command, Context
from bot.commands.model import PricedModel, current_model, priced_model
from bot.conversation import build_prompt, with_less_history
from bot.i18n import N_, _
from bot.incoming import Argument, final_delivery
from bot.ledger import CapReached, Hold, Quote
from bot.media.attachments import check_attachments
from bot.media.fitting import largest_affordable
from bot.media.images import CheckedImage
from bot.media.transcription import transcribe
from bot.media.vision import family_for, seeing, seeing_models
from bot.money import format_usd
from bot.providers.base import ChatMessage, ImagePart, ProviderError, TokenUsage
from bot.refusals import (
    CannotSee,
    CapReachedWithHistory,
    EmptyPrompt,
    ModelUnavailable,
    UnknownModelChoice,
)
from bot.storage import DatabaseBusy
from bot.wording import STOPPED_NOTE, heard, no_speech

log = logging.getLogger(__name__)

# The question of an image sent without one.
DESCRIBE = N_("Describe this image.")
# What the history keeps of an image: a follow-up doesn't pay for it again.
IMAGE_STAND_IN = "[image]"

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
    shrunk: bool = False  # the images were sent smaller than full size, to fit the allowance


class StreamFailed(Exception):
    """The provider failed after text was shown; the hold was settled and the partial text kept."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


async def ask(ctx: Context) -> None:
    """/ask: the person's model, then each FALLBACK_MODELS entry while the failure is one another may not
    have (rate limits, outages); a model that failed after showing text is not followed by another.

    Attachments are checked before anything is paid (a bad file is one line); a voice note is transcribed
    (a charge of its own), its text shown and asked; images go to models that see, priced in the quote."""
    prompt = ctx.args.strip()
    services = ctx.services
    chosen = await current_model(services, ctx.user, ctx.profile)
    listed = services.pricer.openrouter  # OpenRouter's list says which of its models take images
    # decoding and scaling images is CPU work: off the event loop, so other chats keep streaming (a
    # question without files has nothing to decode: no hop to a thread); each image is decoded once, at
    # the size the chosen model's family needs (but not kept through a transcription's wait)
    attachments = ctx.incoming.attachments
    family = family_for(chosen, listed) if attachments else None
    keep = family if not any(a.kind == "audio" for a in attachments) else None
    check = functools.partial(check_attachments, services.settings, attachments, keep)
    media = await asyncio.to_thread(check) if attachments else check()
    if not prompt and not media.images and media.audio is None:
        raise EmptyPrompt()
    candidates = [chosen, *(m for m in services.settings.fallback_models if m != chosen)]
    if media.images:
        if family is None:
            raise CannotSee(chosen, seeing_models(services.providers.configured(), listed))
        candidates = seeing(candidates, listed)
    if media.audio is not None:
        transcribed = await transcribe(services, ctx.user, media.audio)
        if not transcribed.text and not prompt and not media.images:
            await ctx.reply.text(no_speech())
            return
        await ctx.reply.text(heard(transcribed.text))
        prompt = "\n\n".join(part for part in (prompt, transcribed.text) if part)
    prompt = prompt or _(DESCRIBE)
    history = await services.conversations.history(ctx.incoming.conversation)
    question = ChatMessage("user", prompt)
    stored = ChatMessage("user", " ".join([IMAGE_STAND_IN] * len(media.images) + [prompt]))
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
            outcome = await _answer(ctx, model, history, question, media.images)
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
                _(
                    "(The answer was cut off: {model} failed mid-answer. "
                    "You were charged what the answer may have used.)"
                ).format(model=model_id)
            )
            log.warning("%s failed mid-answer: %s", model_id, failed.error)
            return
        if attempt:
            log.info("answered by fallback model %s", model_id)
        try:
            await services.conversations.append(
                ctx.incoming.conversation, [stored, ChatMessage("assistant", outcome.text)]
            )
        except DatabaseBusy:  # the answer was delivered and is paid for: only its history is lost
            log.warning("database busy: this exchange is left out of %s's history", ctx.user)
        usage = outcome.usage
        clamped = outcome.clamped and usage is not None and usage.output_tokens >= MIN_OUTPUT_TOKENS
        if clamped or outcome.trimmed or outcome.shrunk:
            note = await _fit_note(ctx, clamped=clamped, trimmed=outcome.trimmed, shrunk=outcome.shrunk)
            await ctx.reply.text(note)
        return


async def _fit_note(ctx: Context, *, clamped: bool, trimmed: bool, shrunk: bool = False) -> str:
    """One line after an answer shaped to fit the allowance: what was cut, and what is left."""
    summary = await ctx.services.ledger.summary(ctx.user)
    remaining = _("unlimited") if summary.remaining is None else format_usd(summary.remaining)
    if shrunk:
        what = _("The image was sent at a lower resolution to fit your allowance")
    elif trimmed and clamped:
        what = _("Earlier messages were left out and the answer length was limited to fit your allowance")
    elif trimmed:
        what = _("Earlier messages were left out to fit your allowance")
    else:
        what = _("Answer length was limited to what your allowance can pay")
    return _("({what}; {left} left.)").format(what=what, left=remaining)


async def _answer(
    ctx: Context,
    model: PricedModel,
    history: list[ChatMessage],
    question: ChatMessage,
    images: tuple[CheckedImage, ...] = (),
) -> Outcome:
    """One model's attempt, paid by `bot.answering`'s rules. Raises ProviderError when nothing was shown
    (hold released), `StreamFailed` when the provider failed after text was shown (settled).

    Images go at full size when the allowance can pay for them, else at the largest smaller size it can
    (`largest_affordable`), else the ledger's refusal stands: the quote always holds what they may cost."""
    settings = ctx.services.settings
    window = model.rates.context_window
    budget = settings.history_tokens
    if window:
        budget = min(budget, max(window - settings.max_output_tokens, 0))

    async def reserve(parts: tuple[ImagePart, ...]) -> _Reserved:
        asked = dataclasses.replace(question, images=parts)
        built = build_prompt(settings.system_prompt, history, asked, budget)
        check_fits(model, built)
        started = ctx.services.clock()  # the hold and the charge are both priced at the request's start
        hold, messages, worst = await _reserve(ctx, model, built, started)
        return _Reserved(asked, built, messages, hold, worst, started)

    family = family_for(model.resolved.id, ctx.services.pricer.openrouter)
    reserved, shrunk = await largest_affordable(family, images, reserve)
    question, messages = reserved.question, reserved.messages
    trimmed = len(messages) < len(reserved.built)
    paying = Paying(ctx.services, model, reserved.quote, reserved.hold, reserved.started)
    try:
        async with paying:
            try:
                text = await _relay(ctx, paying, messages)
            except ProviderError as error:
                if error.kind != "context_too_long" or paying.shown or len(messages) <= 2:
                    raise
                # the provider counts tokens differently than we estimate: drop the history once and retry
                log.info("%s: context too long; retrying without history", model.resolved.id)
                messages = build_prompt(settings.system_prompt, [], question, 0)
                text = await _relay(ctx, paying, messages)
    except ProviderError as error:
        if paying.shown:
            raise StreamFailed(error) from None
        raise
    return Outcome(text, paying.usage, paying.clamped, trimmed, shrunk=shrunk)


@dataclass(frozen=True)
class _Reserved:
    """One attempt's granted hold: the question with its images as sent, the prompt built around it, the
    messages the hold pays for (less history when some was left out), its quote and when it was priced."""

    question: ChatMessage
    built: tuple[ChatMessage, ...]
    messages: tuple[ChatMessage, ...]
    hold: Hold
    quote: Quote
    started: datetime


async def _relay(ctx: Context, paying: Paying, messages: tuple[ChatMessage, ...]) -> str:
    """Stream the answer into the chat; returns the text delivered (a stop during the final text does
    not cut it: the stream had ended, so its usage is what is charged). An answer its asker stopped is cut
    like one a shutdown cut (`Core.stop`), its text ending in a short note."""
    stoppable = ctx.stoppable
    async with ctx.reply.stream(stop=stoppable.id if stoppable else None) as out:
        try:
            await paying.stream(messages, out.write)
        except asyncio.CancelledError:
            if stoppable is not None and stoppable.stopped:
                await out.write(("\n\n" if paying.shown else "") + _(STOPPED_NOTE))
            raise
        return await final_delivery(out)


def _quote(ctx: Context, model: PricedModel, messages: tuple[ChatMessage, ...], at: datetime) -> Quote:
    """The worst case of sending `messages` at the prices of `at`, with a full answer (MAX_OUTPUT_TOKENS)."""
    return quote(ctx.services, model, messages, at, ctx.services.settings.max_output_tokens)


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


PROMPT = Argument("prompt", N_("Your question"), required=True)
# Where a platform's form takes files (Discord): an image is asked about, a recording is transcribed first.
FILE = Argument("attachment", N_("An image to ask about, or a recording to answer"))
ASK = Command(
    "ask",
    N_("Ask the model a question"),
    usage=N_("/ask <question>"),
    argument=PROMPT,
    file=FILE,
    streams=True,
    run=ask,
)
COMMANDS = [ASK]
