"""/ask end to end: the real core, ledger and OpenAI-compatible provider against the fake server.

Amounts are checked to the nano-dollar against genai-prices' own figure for the usage the fake reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from bot.ledger import STALE_AFTER, Hold, Quote
from bot.money import format_usd, usd_to_nanos
from bot.providers.base import ChatMessage
from tests.doubles import Clock, RecordingReply, RecordingStream, eventually, message
from tests.fakes.llm_openai import CONTEXT_TOO_LONG, FakeOpenAI, Script
from tests.harness import Harness, check_invariants, harness, snapshot, spy_reserves

BOB = "telegram:2"
MODEL = "openai/gpt-4o-mini"
# gpt-4o-mini in nano-dollars per token: $0.15 and $0.60 per million
INPUT_NANOS, OUTPUT_NANOS = 150, 600


def openai_settings(fake: FakeOpenAI, **more: object) -> dict[str, object]:
    return {
        "openai_api_key": "sk-test-key-0123456789",
        "openai_base_url": fake.url,
        "default_model": MODEL,
        "retry_base_delay": 0,
        **more,
    }


def expected_cost(prompt: int, completion: int, cached: int = 0) -> int:
    price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=prompt, cache_read_tokens=cached, output_tokens=completion),
        "gpt-4o-mini",
        provider_id="openai",
    )
    return usd_to_nanos(Decimal(price.total_price))


def input_bound(*texts: str) -> int:
    """The input bound the bot prices, spelled out: UTF-8 bytes plus 8 tokens of framing per message."""
    return sum(len(text.encode("utf-8")) + 8 for text in texts)


async def estimated_charge(h: Harness) -> int:
    """Bob's one charge, which must be marked estimated (no usage was reported)."""
    row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
    assert row is not None and int(row["estimated"]) == 1
    return int(row["cost"])


async def holds(h: Harness) -> int:
    row = await h.db.fetchone("SELECT COUNT(*) AS n FROM holds")
    assert row is not None
    return int(row["n"])


async def test_the_charge_is_genai_prices_figure_for_the_reported_usage(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.then(
        Script(text="Ledgers add up.", prompt_tokens=1234, completion_tokens=567, cached_tokens=200)
    )
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reply = await h.say("/ask what is a ledger?", user=BOB)
        assert reply.answers == ["Ledgers add up. "]
        summary = await h.ledger.summary(BOB)
        assert summary.spent == expected_cost(1234, 567, cached=200)
        row = await h.db.fetchone("SELECT * FROM charges WHERE user_id = ?", BOB)
        assert row is not None
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (1234, 200, 567)
        assert (row["model"], row["estimated"]) == (MODEL, 0)
        sent = fake_openai.requests[0]
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == "Bearer sk-test-key-0123456789"
        assert sent.body["model"] == "gpt-4o-mini" and sent.body["stream"] is True
        assert sent.body["stream_options"] == {"include_usage": True}
        assert sent.body["max_completion_tokens"] == h.settings.max_output_tokens
        assert sent.body["messages"][-1] == {"role": "user", "content": "what is a ledger?"}
        await check_invariants(h.ledger)


async def test_history_is_sent_and_new_starts_a_fresh_thread(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(text="Paris."), Script(text="About 2 million."), Script(text="Hi."))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        await h.say("capital of France?", user=BOB, direct=True)
        await h.say("/ask and its population?", user=BOB)
        roles = [(m["role"], m["content"]) for m in fake_openai.requests[1].body["messages"]]
        assert roles[1:] == [
            ("user", "capital of France?"),
            ("assistant", "Paris. "),
            ("user", "and its population?"),
        ]
        await h.say("/new", user=BOB)
        await h.say("/ask hello", user=BOB)
        assert [m["role"] for m in fake_openai.requests[2].body["messages"]] == ["system", "user"]


async def test_history_survives_a_restart(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(text="Lima."), Script(text="About 10 million."))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        await h.say("/ask capital of Peru?", user=BOB)
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:  # a new process, same database
        await h.say("/ask and its population?", user=BOB)
    sent = [(m["role"], m["content"]) for m in fake_openai.requests[1].body["messages"]]
    assert sent[1:] == [
        ("user", "capital of Peru?"),
        ("assistant", "Lima. "),
        ("user", "and its population?"),
    ]


async def test_an_unknown_command_answers_with_help_and_calls_no_model(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        before = await snapshot(h.db)
        unknown = await h.say("/frobnicate now", user=BOB)
        helped = await h.say("/help", user=BOB)
        assert await snapshot(h.db) == before
    assert unknown.lines[0].startswith("Unknown command /frobnicate.")
    assert unknown.lines[1:] == helped.lines and any("/ask" in line for line in helped.lines)
    assert fake_openai.requests == []


async def test_a_bare_mention_is_answered_with_help_and_group_chatter_with_nothing(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        bare = await h.say("", user=BOB)  # what an adapter hands over for "@capbot" alone
        helped = await h.say("/help", user=BOB)
        chatter = await h.say("", user=BOB, direct=False)
    assert bare.lines == helped.lines and any("/ask" in line for line in bare.lines)
    assert chatter.lines == []


async def test_near_the_cap_the_output_limit_is_clamped_and_the_charge_fits(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = Script(fill_to_limit=True, prompt_tokens=30)
    # $0.0002 allows a few hundred gpt-4o-mini output tokens ($0.60 per million), not the configured 1024
    async with harness(tmp_path, **openai_settings(fake_openai, default_cap_usd=Decimal("0.0002"))) as h:
        reply = await h.say("/ask write a long essay", user=BOB)
        limit = fake_openai.requests[0].output_limit
        assert limit is not None and 16 <= limit < h.settings.max_output_tokens
        assert any("limited to what your allowance can pay" in line for line in reply.lines)
        summary = await h.ledger.summary(BOB)
        assert 0 < summary.spent <= summary.cap == 200_000
        await check_invariants(h.ledger)


async def test_200_concurrent_asks_never_overspend(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    gate = asyncio.Event()
    fake_openai.default = Script(fill_to_limit=True, prompt_tokens=40, hold=gate)
    settings = openai_settings(fake_openai, default_cap_usd=Decimal("0.002"), max_in_flight=1000)
    async with harness(tmp_path, **settings) as h:
        asks = [asyncio.create_task(h.say(f"/ask question {n}", user=BOB)) for n in range(200)]
        await eventually(  # every ask has either reached the fake or been refused
            lambda: len(fake_openai.requests) + sum(t.done() for t in asks) == 200, "all 200 asks"
        )
        gate.set()
        replies = await asyncio.gather(*asks)
        answered = [r for r in replies if r.answers]
        refused = [r for r in replies if not r.answers]
        assert answered and refused
        assert all("allowance can't pay" in r.last for r in refused)
        summary = await h.ledger.summary(BOB)
        row = await h.db.fetchone("SELECT COALESCE(SUM(cost), 0) AS s FROM charges WHERE user_id = ?", BOB)
        assert row is not None and int(row["s"]) == summary.spent
        assert summary.spent <= 2_000_000  # the cap, in nano-dollars
        assert len(fake_openai.requests) == len(answered)
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_a_stream_cut_after_text_is_charged_the_bound_of_what_was_received(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the hold: the prompt's bound plus one output token per UTF-8 byte received, estimated."""
    fake_openai.then(Script(text="one two three four five", cut_after_words=3))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply = await h.say("/ask count", user=BOB)
        assert reply.answers == ["one two three "]
        assert "cut off" in reply.last
        cost = await estimated_charge(h)
        bound = (
            input_bound(h.settings.system_prompt, "count") * INPUT_NANOS
            + len(b"one two three ") * OUTPUT_NANOS
        )
        assert cost == bound == reserved[0].bound_of("one two three ")
        assert bound < reserved[0].hold.amount
        assert (await h.ledger.summary(BOB)).spent == bound
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_a_stream_without_usage_is_charged_the_bound_of_its_text(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.then(Script(text="naïve café", usage=False))  # bytes, not characters, bound the tokens
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        assert (await h.say("/ask hi", user=BOB)).answers == ["naïve café "]
        bound = input_bound(h.settings.system_prompt, "hi") * INPUT_NANOS + 13 * OUTPUT_NANOS
        assert (
            await estimated_charge(h)
            == bound
            == reserved[0].bound_of("naïve café ")
            < reserved[0].hold.amount
        )
        assert await holds(h) == 0


async def test_an_answer_stopped_after_text_settles_the_bound_and_stays_cancelled(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation (the person stopped it, the bot shuts down) still settles, then goes on cancelling."""
    fake_openai.then(Script(text="one two three four", stall_after_words=2))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply = RecordingReply()
        opened: list[RecordingStream] = []

        def stream(stop: str | None = None) -> RecordingStream:
            opened.append(RecordingStream(reply))
            return opened[-1]

        monkeypatch.setattr(reply, "stream", stream)
        asking = asyncio.create_task(h.core.handle(message("/ask count", user=BOB), reply))
        await eventually(lambda: bool(opened) and opened[0].deltas == ["one ", "two "], "two words shown")
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        assert await estimated_charge(h) == reserved[0].bound_of("one two ") < reserved[0].hold.amount
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_a_reported_cost_above_the_hold_charges_the_hold_and_the_owner_absorbs_the_rest(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider that routed elsewhere, or a price changed mid-flight: never past the person's cap."""
    fake_openai.then(Script(text="Routed elsewhere.", prompt_tokens=10, completion_tokens=5_000_000))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        reserved = spy_reserves(h, monkeypatch)
        with caplog.at_level(logging.WARNING):
            assert (await h.say("/ask hi", user=BOB)).answers == ["Routed elsewhere. "]
        hold = reserved[0].hold.amount
        reported = expected_cost(10, 5_000_000)  # $3, three times the $1 cap
        summary = await h.ledger.summary(BOB)
        assert summary.spent == hold <= summary.cap == 1_000_000_000
        row = await h.db.fetchone("SELECT cost, absorbed, estimated FROM charges WHERE user_id = ?", BOB)
        assert row is not None
        assert (int(row["cost"]), int(row["absorbed"]), int(row["estimated"])) == (hold, reported - hold, 0)
        assert f"the owner absorbs {reported - hold}" in caplog.text
        usage = (await h.say("/usage")).last.splitlines()  # the owner's view (the CLI prints the same)
        assert usage[1] == (
            f"{MODEL}: 1 req, 10 in (0 cached), 5,000,000 out (0 reasoning), {format_usd(hold)}"
            f" (+{format_usd(reported - hold)} absorbed by the owner)"
        )
        await check_invariants(h.ledger)


async def test_a_500_before_any_token_charges_nothing(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.default = Script(status=500)
    async with harness(tmp_path, **openai_settings(fake_openai, provider_retries=1)) as h:
        before = await snapshot(h.db)
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == []
        assert reply.lines == [
            "openai/gpt-4o-mini is overloaded at its provider; try again shortly. You were not charged."
        ]
        assert len(fake_openai.requests) == 2  # one retry
        after = await snapshot(h.db)
        assert after["charges"] == before["charges"] == [] and after["holds"] == []
        assert (await h.ledger.summary(BOB)).spent == 0


async def test_a_hold_left_by_a_crash_is_settled_at_the_next_start(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    gate = asyncio.Event()
    fake_openai.then(Script(hold=gate))
    settings = openai_settings(fake_openai)
    async with harness(tmp_path, **settings) as h:
        asking = asyncio.create_task(h.say("/ask hi", user=BOB))
        await eventually(lambda: bool(fake_openai.requests), "the request")
        held = (await h.ledger.summary(BOB)).held
        assert held > 0
        # a crash: the process is gone before settling; nothing in the database changes after this
        await h.db.close()
        asking.cancel()
        with contextlib.suppress(BaseException):
            await asking
    gate.set()
    # the restart comes after the dead process's heartbeat went stale (a sooner restart leaves the hold
    # to the running process's sweep, one heartbeat later)
    clock = Clock()
    clock.advance(seconds=STALE_AFTER.total_seconds() + 1)
    async with harness(tmp_path, clock, **settings) as restarted:
        summary = await restarted.ledger.summary(BOB)
        assert (summary.spent, summary.held) == (held, 0)
        row = await restarted.db.fetchone("SELECT model, estimated FROM charges")
        assert row is not None and (row["model"], int(row["estimated"])) == ("(interrupted)", 1)
        await check_invariants(restarted.ledger)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("/ask", "Ask something after the command, e.g. /ask What is the capital of Peru?"),
        ("/ask    ", "Ask something after the command, e.g. /ask What is the capital of Peru?"),
        ("/model nowhere/model-x", "Can't use nowhere/model-x: there is no provider called"),
        ("/model gpt-4o", "Can't use gpt-4o: model ids look like provider/model"),
        (
            "/model anthropic/claude-haiku-4-5",
            "Can't use anthropic/claude-haiku-4-5: Anthropic is not set up",
        ),
        ("/model openai/gpt-unpriced-9", "Can't use openai/gpt-unpriced-9: it has no known price"),
    ],
)
async def test_bad_input_gets_one_line_and_changes_nothing(
    fake_openai: FakeOpenAI, tmp_path: Path, text: str, line: str
) -> None:
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        before = await snapshot(h.db)
        reply = await h.say(text, user=BOB)
        assert len(reply.lines) == 1 and reply.lines[0].startswith(line), reply.lines
        assert reply.answers == [] and fake_openai.requests == []
        assert await snapshot(h.db) == before


async def test_a_prompt_larger_than_the_context_is_refused_before_any_call(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        before = await snapshot(h.db)
        reply = await h.say("/ask " + "many words " * 60_000, user=BOB)  # ~660 KB against 128k tokens
        assert len(reply.lines) == 1 and "too long" in reply.lines[0], reply.lines
        assert fake_openai.requests == [] and await snapshot(h.db) == before


async def test_context_too_long_from_the_provider_retries_once_without_history(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.then(Script(text="first"), Script(status=400, error_body=CONTEXT_TOO_LONG), Script(text="ok"))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        await h.say("/ask first question", user=BOB)
        reply = await h.say("/ask second question", user=BOB)
        assert reply.answers == ["ok "]
        assert len(fake_openai.requests[1].body["messages"]) == 4
        assert [m["role"] for m in fake_openai.requests[2].body["messages"]] == ["system", "user"]
        assert await holds(h) == 0
        await check_invariants(h.ledger)


async def test_the_database_directory_is_created(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    async with harness(
        tmp_path, **openai_settings(fake_openai, database_url=f"sqlite:///{nested}/x.db")
    ) as h:
        assert (await h.say("/ask hi", user=BOB)).answers
    assert (nested / "x.db").exists()


async def test_spend_shows_the_charge_the_cap_and_what_remains(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.then(Script(prompt_tokens=20, completion_tokens=1000))  # $0.000003 + $0.0006
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        await h.say("/ask hi", user=BOB)
        spent = (await h.ledger.summary(BOB)).spent
        assert spent == expected_cost(20, 1000) == 603_000
        line = (await h.say("/spend", user=BOB)).lines[0]
        # spent rounded up and what is left rounded down, to one precision: together never above the cap
        assert line.startswith("Spent $0.00061 this month of your $1.00 cap; $0.99939 left.")


async def test_a_locked_database_gets_one_line_and_charges_nothing(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.storage.sqlite_writer.BUSY_TIMEOUT_MS", 50)
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        other = sqlite3.connect(tmp_path / "capbot.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            reply = await h.say("/ask hi", user=BOB)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert reply.lines == ["The bot's database is busy; try again in a moment. Nothing was charged."]
        assert reply.answers == [] and fake_openai.requests == []
        assert (await h.ledger.summary(BOB)).spent == 0 and await holds(h) == 0
        assert (await h.say("/ask hi", user=BOB)).answers  # and it recovers


async def test_usage_that_cannot_be_priced_still_closes_the_hold(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer was shown: charge the hold (estimated) rather than leave it open until a restart."""
    fake_openai.then(Script(text="Shown.", prompt_tokens=10, completion_tokens=5))
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:

        def broken(*_: object) -> int:
            raise ValueError("the price table cannot handle this usage")

        monkeypatch.setattr(h.core.services.pricer, "cost", broken)
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == ["Shown. "]
        assert await holds(h) == 0
        row = await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)
        assert row is not None and int(row["estimated"]) == 1 and int(row["cost"]) > 0
        assert (await h.ledger.summary(BOB)).spent == int(row["cost"])
        await check_invariants(h.ledger)


async def earlier(h: Harness, exchanges: int, size: int) -> list[ChatMessage]:
    """A stored conversation of `exchanges` questions and answers of `size` bytes each, oldest first."""
    history: list[ChatMessage] = []
    for n in range(exchanges):
        history += [
            ChatMessage("user", f"q{n} " + "x" * size),
            ChatMessage("assistant", f"a{n} " + "y" * size),
        ]
    await h.core.services.conversations.append(f"t:{BOB}", history)
    return history


def sent(fake: FakeOpenAI, index: int = 0) -> list[str]:
    return [m["content"] for m in fake.requests[index].body["messages"]]


async def test_history_that_would_price_a_person_out_is_left_out_oldest_first(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """With the whole conversation not even a short answer fits; with its last exchange a full one does."""
    async with harness(tmp_path, **openai_settings(fake_openai, history_tokens=20_000)) as h:
        history = await earlier(h, exchanges=4, size=4000)
        system, full_answer = h.settings.system_prompt, h.settings.max_output_tokens
        kept = [system, history[-2].content, history[-1].content, "and now?"]
        cap = input_bound(*kept) * INPUT_NANOS + full_answer * OUTPUT_NANOS + 1000  # not one exchange more
        await h.ledger.set_cap(BOB, cap)
        reply = await h.say("/ask and now?", user=BOB)
        assert reply.answers == ["Hello from the fake. "]
        assert sent(fake_openai) == kept
        assert fake_openai.requests[0].output_limit == full_answer  # a full answer, not one cut to fit
        left = format_usd(cap - (await h.ledger.summary(BOB)).spent)
        assert reply.lines == [f"(Earlier messages were left out to fit your allowance; {left} left.)"]
        await check_invariants(h.ledger)


async def test_when_no_full_answer_fits_the_most_history_a_short_one_allows_is_kept(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.default = Script(fill_to_limit=True)
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        history = await earlier(h, exchanges=4, size=400)
        kept = [h.settings.system_prompt, *(m.content for m in history[-4:]), "and now?"]
        cap = input_bound(*kept) * INPUT_NANOS + 100 * OUTPUT_NANOS  # a hundred tokens of answer
        await h.ledger.set_cap(BOB, cap)
        reply = await h.say("/ask and now?", user=BOB)
        assert sent(fake_openai) == kept
        assert fake_openai.requests[0].output_limit == 100
        assert reply.last.startswith(
            "(Earlier messages were left out and the answer length was limited to fit your allowance;"
        )
        assert (await h.ledger.summary(BOB)).spent <= cap
        await check_invariants(h.ledger)


async def test_a_refusal_for_the_question_alone_is_the_usual_line_even_with_history(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        await earlier(h, exchanges=2, size=400)
        await h.ledger.set_cap(BOB, 5 * OUTPUT_NANOS)  # not even a short answer to the question alone
        before = await snapshot(h.db)
        reply = await h.say("/ask and now?", user=BOB)
        assert reply.lines == [
            "Your allowance can't pay for an answer: $0.000003 left. "
            "It resets Dec 1, 2026 00:00 UTC (in 8 days)."
        ]
        assert fake_openai.requests == [] and await snapshot(h.db) == before


async def test_a_refusal_after_leaving_the_history_out_mentions_new(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What was left is only a hint: another answer may take it before the retry; the reserve refuses."""
    async with harness(tmp_path, **openai_settings(fake_openai)) as h:
        history = await earlier(h, exchanges=4, size=400)
        kept = [h.settings.system_prompt, *(m.content for m in history[-2:]), "and now?"]
        cap = input_bound(*kept) * INPUT_NANOS + 100 * OUTPUT_NANOS
        await h.ledger.set_cap(BOB, cap)
        reserve, attempts = h.ledger.reserve, []

        async def racing(user: str, quote: Quote) -> Hold:
            attempts.append(quote)
            if len(attempts) == 2:  # between the refusal and the retry, another answer takes it all
                await reserve(user, Quote(cap, Decimal(0), 1, 1))
            return await reserve(user, quote)

        monkeypatch.setattr(h.ledger, "reserve", racing)
        reply = await h.say("/ask and now?", user=BOB)
        assert len(attempts) == 2 and attempts[1].input_nanos < attempts[0].input_nanos
        assert reply.lines == [
            "Your allowance can't pay for an answer, even leaving out the earlier conversation (/new clears "
            "it): $0.00 left. It resets Dec 1, 2026 00:00 UTC (in 8 days)."
        ]
        assert fake_openai.requests == []
        await check_invariants(h.ledger)
