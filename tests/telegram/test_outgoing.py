"""The token's outgoing scheduler: its decisions on a clock the test holds, then through PTB and the fake.

`Budget` is driven with explicit times, so no assertion here depends on how fast the machine is; the
tests through python-telegram-bot check what reached the fake Bot API.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from telegram.error import RetryAfter
from telegram.ext import ExtBot

from adapters.telegram_bot.aiohttp_request import AiohttpRequest
from adapters.telegram_bot.outgoing import UNBOUNDED, Budget, Dropped, Limits, OutgoingScheduler, Priority
from tests.fakes.telegram_api import GROUP_ID, TOKEN, FakeTelegram
from tests.fakes.telegram_limits import LimitedTelegram

SMALL = Limits(
    overall_rate=10, overall_burst=2, private_rate=1, private_burst=2, group_rate=1 / 3, group_burst=1
)


def granted(budget: Budget, now: float) -> list[tuple[Priority, int]]:
    decided, _ = budget.serve(now)
    return [(t.priority, t.order) for t in decided if t.outcome is None]


def test_final_texts_go_first_then_first_texts_progress_and_typing() -> None:
    budget = Budget(SMALL)
    typing = budget.enqueue(Priority.TYPING, 1, 0.0)
    progress = budget.enqueue(Priority.PROGRESS, 2, 0.0)
    first = budget.enqueue(Priority.FIRST, 3, 0.0)
    final = budget.enqueue(Priority.FINAL, 4, 0.0)
    assert granted(budget, 0.0) == [(Priority.FINAL, final.order), (Priority.FIRST, first.order)]  # 2 ...
    assert granted(budget, 0.1) == []  # ... in any 0.2 s (10 a second, read as a window)
    # progress and typing fill at most half the window: one of the two calls in any 0.2 s
    assert granted(budget, 0.2) == [(Priority.PROGRESS, progress.order)]
    assert granted(budget, 0.4) == [(Priority.TYPING, typing.order)]


def test_progress_leaves_half_the_window_to_final_texts() -> None:
    budget = Budget(Limits(overall_rate=29, overall_burst=29))
    for chat in range(1, 15):  # 14 finals in this second: progress may still go
        budget.enqueue(Priority.FINAL, chat, 0.0)
    budget.enqueue(Priority.PROGRESS, 100, 0.0)
    assert len(granted(budget, 0.0)) == 15
    for chat in range(15, 30):  # 29 in the window now: no more progress until half of it ages out
        budget.enqueue(Priority.FINAL, chat, 0.5)
    with pytest.raises(Dropped):
        budget.enqueue(Priority.PROGRESS, 101, 0.5)
    assert len(granted(budget, 0.5)) == 14  # the finals fill the window (14 + 1 progress + 14)
    typing = budget.enqueue(Priority.TYPING, 102, 0.9)  # its turn 0.1 s away: it waits
    decided, next_at = budget.serve(0.9)
    assert decided == [] and next_at == pytest.approx(1.0)
    # at 1.0 the first 15 age out: the last final goes, and the window holds 15, still more than half
    assert [p for p, _ in granted(budget, 1.0)] == [Priority.FINAL]
    assert granted(budget, 1.5) == [(Priority.TYPING, typing.order)]  # the finals of 0.5 aged out


def test_typing_gives_way_to_answers_still_being_written() -> None:
    budget = Budget(Limits())  # 29 a second, nothing sent yet
    with contextlib.ExitStack() as coming:
        for _ in range(40):  # 40 answers on their way: their texts will take more than a second
            coming.enter_context(budget.answer_coming())
        with pytest.raises(Dropped):
            budget.enqueue(Priority.TYPING, 1, 0.0)
        with pytest.raises(Dropped):
            budget.enqueue(Priority.PROGRESS, 2, 0.0)
    assert budget.coming == 0
    with budget.answer_coming():  # one answer coming: room for its "typing…" and the text alike
        typing = budget.enqueue(Priority.TYPING, 1, 0.0)
        assert granted(budget, 0.0) == [(Priority.TYPING, typing.order)]


def test_under_a_saturated_budget_progress_and_typing_are_dropped_and_finals_never() -> None:
    budget = Budget(SMALL)
    finals = [budget.enqueue(Priority.FINAL, chat, 0.0) for chat in range(1, 31)]
    # 30 finals ahead at 10 a second: progress and typing could not go within their patience
    with pytest.raises(Dropped):
        budget.enqueue(Priority.PROGRESS, 100, 0.0)
    with pytest.raises(Dropped):
        budget.enqueue(Priority.TYPING, 101, 0.0)
    sent: list[int] = []
    now = 0.0
    while budget.waiting:
        decided, next_at = budget.serve(now)
        assert all(t.outcome is None for t in decided)
        sent += [t.order for t in decided]
        assert next_at is not None or not budget.waiting
        now = next_at if next_at is not None else now
    assert sorted(sent) == [t.order for t in finals]


def test_progress_that_waited_too_long_is_dropped_when_finals_take_the_budget() -> None:
    budget = Budget(SMALL)
    progress = budget.enqueue(Priority.PROGRESS, 1, 0.0)  # alone: its turn is near, so it queues
    for chat in range(2, 40):
        budget.enqueue(Priority.FINAL, chat, 0.0)  # then the finals arrive and go before it
    decided: list[object] = []
    now = 0.0
    while progress.outcome is None and now < 5:
        found, _ = budget.serve(now)
        decided += found
        now += 0.1
    assert isinstance(progress.outcome, Dropped)
    assert now <= SMALL.max_wait[Priority.PROGRESS] + 0.2  # dropped at its deadline, not left waiting


def test_the_overall_limit_is_a_window_never_more_than_its_count_in_any_span() -> None:
    budget = Budget(Limits(overall_rate=29, overall_burst=29))
    now, sent = 0.0, []
    for chat in range(1, 200):
        budget.enqueue(Priority.FINAL, chat, 0.0)
    while budget.waiting:
        decided, next_at = budget.serve(now)
        sent += [now] * len(decided)
        assert next_at is not None or not budget.waiting
        now = next_at if next_at is not None else now
    # after a quiet spell a whole second's worth goes at once, and no second ever sees more than 29
    assert sent[:29] == [0.0] * 29
    assert all(sum(1 for t in sent if start <= t < start + 1.0) <= 29 for start in sent)


def test_a_private_chat_gets_a_short_burst_then_one_a_second() -> None:
    budget = Budget(SMALL)
    calls = [budget.enqueue(Priority.FIRST, 7, 0.0) for _ in range(3)]
    assert len(granted(budget, 0.0)) == 2
    decided, next_at = budget.serve(0.5)
    assert decided == [] and next_at == pytest.approx(1.0)
    assert granted(budget, 1.0) == [(Priority.FIRST, calls[2].order)]


def test_a_group_gets_about_twenty_a_minute() -> None:
    budget = Budget(Limits())
    for _ in range(30):
        budget.enqueue(Priority.FINAL, GROUP_ID, 0.0)
    sent = 0
    now = 0.0
    while now <= 60:
        sent += len(granted(budget, now))
        now += 0.25
    assert 18 <= sent <= 20 + 8  # 19 a minute after a burst of 8: never more than Telegram allows


def test_a_429_pauses_every_chat_of_the_token() -> None:
    budget = Budget(SMALL)
    budget.pause(3.0)
    budget.enqueue(Priority.FINAL, 1, 0.0)
    budget.enqueue(Priority.FIRST, 2, 0.0)
    with pytest.raises(Dropped):  # 3 s away: progress is not worth waiting for
        budget.enqueue(Priority.PROGRESS, 3, 0.0)
    decided, next_at = budget.serve(1.0)
    assert decided == [] and next_at == 3.0
    assert len(granted(budget, 3.0)) == 2


def test_a_cancelled_call_gives_its_place_to_the_next() -> None:
    budget = Budget(SMALL)
    for chat in (1, 2):
        budget.enqueue(Priority.FINAL, chat, 0.0)
    granted(budget, 0.0)  # the burst is spent
    gone = budget.enqueue(Priority.FINAL, 3, 0.0)
    kept = budget.enqueue(Priority.FIRST, 4, 0.0)
    budget.discard(gone)
    assert budget.waiting == 1
    assert granted(budget, 0.2) == [(Priority.FIRST, kept.order)]


# ---------------------------------------------------------------------- through python-telegram-bot


def bot_on(fake: FakeTelegram, scheduler: OutgoingScheduler) -> ExtBot[Any]:
    return ExtBot(TOKEN, base_url=fake.base_url, rate_limiter=scheduler, request=AiohttpRequest())


async def test_a_429_pauses_the_whole_token_and_the_call_is_retried(fake_telegram: FakeTelegram) -> None:
    scheduler = OutgoingScheduler()
    fake_telegram.fail("sendMessage", retry_after=2, when=lambda call: call.params["chat_id"] == 1)
    async with bot_on(fake_telegram, scheduler) as bot:
        final = {"priority": Priority.FINAL}
        first = asyncio.create_task(bot.send_message(1, "final", rate_limit_args=final))
        async with asyncio.timeout(10):
            while not scheduler.refused:  # noqa: ASYNC110 - the bot has read the 429 (the fake is not told)
                await asyncio.sleep(0.01)
        pause_ends = scheduler.budget.paused_until
        with pytest.raises(Dropped):  # progress is not held for seconds: nothing goes out
            await bot.send_message(3, "progress", rate_limit_args={"priority": Priority.PROGRESS})
        other = await bot.send_message(2, "another chat", rate_limit_args={"priority": Priority.FIRST})
        assert time.monotonic() >= pause_ends  # the other chat waited out the token's flood wait too
        await first
    assert fake_telegram.shown(1) == ["final"] and fake_telegram.shown(2) == ["another chat"]
    assert other.text == "another chat" and fake_telegram.shown(3) == []
    assert [c.params["chat_id"] for c in fake_telegram.calls_to("sendMessage")] == [1, 1, 2]


async def test_plain_lines_keep_their_retry_count(fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("sendMessage", retry_after=1, times=2)
    async with bot_on(fake_telegram, OutgoingScheduler(max_retries=0)) as bot:
        with pytest.raises(RetryAfter):  # no retries by default here: the 429 reaches the caller
            await bot.send_message(5, "refusal")
        await bot.send_message(5, "refusal", rate_limit_args=3)
    assert fake_telegram.shown(5) == ["refusal"]


async def test_a_call_cancelled_in_the_queue_frees_its_place(fake_telegram: FakeTelegram) -> None:
    scheduler = OutgoingScheduler(Limits(private_rate=0.01, private_burst=1))
    async with bot_on(fake_telegram, scheduler) as bot:
        await bot.send_message(9, "one")
        waiting = asyncio.create_task(bot.send_message(9, "two"))  # the chat's budget is spent for 100 s
        await asyncio.sleep(0.05)
        assert scheduler.budget.waiting == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert scheduler.budget.waiting == 0
    assert fake_telegram.shown(9) == ["one"]


async def test_the_limited_fake_refuses_a_fourth_message_in_a_private_chat_at_once() -> None:
    async with LimitedTelegram() as fake, bot_on(fake, OutgoingScheduler(UNBOUNDED, max_retries=0)) as bot:
        for n in range(3):
            await bot.send_message(11, f"burst {n}")
        await bot.send_chat_action(11, "typing")  # a chat action counts overall only
        with pytest.raises(RetryAfter):
            await bot.send_message(11, "one too many")
    assert fake.shown(11) == ["burst 0", "burst 1", "burst 2"]
    assert fake.refused == {"sendMessage": 1} and fake.writes["sendChatAction"] == 1


async def test_the_scheduler_keeps_a_crowd_of_final_texts_within_the_limits() -> None:
    async with LimitedTelegram() as fake, bot_on(fake, OutgoingScheduler()) as bot:
        final = {"priority": Priority.FINAL}
        await asyncio.gather(
            *(bot.send_message(chat, "answer", rate_limit_args=final) for chat in range(1, 61))
        )
    assert fake.refused == {} and fake.writes == {"sendMessage": 60}
    assert all(fake.shown(chat) == ["answer"] for chat in range(1, 61))
