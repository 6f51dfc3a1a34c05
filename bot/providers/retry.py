"""Bounded retries for a stream, but only before its first text.

Once any text has reached the person, retrying would show the answer twice and could charge twice, so a
failure after the first text is passed on as is. Before that, rate limits and overloads are retried with
exponential backoff (tenacity), honouring the provider's Retry-After when it gives one; a wait longer
than `max_wait` is not worth holding a chat for, so the error goes up instead (and the fallback models
get their turn).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from bot.providers.base import ChatRequest, Provider, ProviderError, StreamEvent, TextDelta

log = logging.getLogger(__name__)


class RetryingProvider:
    """Wraps any `Provider`: retries happen in one place, the same way for every wire format."""

    def __init__(
        self,
        inner: Provider,
        *,
        attempts: int = 3,
        base_delay: float = 0.5,
        max_wait: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = inner.name
        self.inner = inner
        self._attempts = attempts
        self._backoff = wait_exponential(multiplier=base_delay, max=max_wait)
        self._max_wait = max_wait
        self._sleep = sleep

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ProviderError) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(state))

    def _should_retry(self, error: BaseException) -> bool:
        if not isinstance(error, ProviderError) or not error.retryable:
            return False
        return error.retry_after is None or error.retry_after <= self._max_wait

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The inner stream, retried until its first text; after that, its events and errors as they come."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            sleep=self._sleep,
            reraise=True,
            before_sleep=_log_retry,
        )
        events: AsyncIterator[StreamEvent] | None = None
        leading: list[StreamEvent] = []
        async for attempt in retrying:
            with attempt:
                # Usage reports before the first text (Anthropic's message_start) show nothing to anyone,
                # so a failure after them is still retried; they are held back until text comes.
                events = aiter(self.inner.stream(request))
                leading = []
                async for event in events:
                    leading.append(event)
                    if isinstance(event, TextDelta) and event.text:
                        break
        assert events is not None
        for event in leading:
            yield event
        async for event in events:
            yield event


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0
    log.warning("attempt %d failed (%s); retrying in %.1fs", state.attempt_number, error, wait)
