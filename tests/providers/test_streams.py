"""Broken and unusual streams through the real core, for each wire format.

A stream that breaks after text was shown keeps the text, tells the person it was cut off and charges
the bound of the text received (the input bound plus one output token per UTF-8 byte), marked estimated
(the usage is unknown); one that breaks before any text charges nothing. Comment lines and pings change
nothing, and a stream that never reports usage is charged the same bound, estimated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import llm_anthropic as anth
from tests.fakes import llm_gemini as gem
from tests.fakes import llm_openai as oai
from tests.fakes.llm_fixtures import Fakes
from tests.harness import harness, spy_reserves
from tests.providers.wiring import BOB, MODELS, env, fake_for, settled

# -- broken streams: after text the bound of what was received is charged, marked estimated ------------

CUT_OFF = (
    "(The answer was cut off: {model} failed mid-answer. You were charged what the answer may have used.)"
)


@pytest.mark.parametrize(
    ("provider", "script", "partial"),
    [
        ("openai", oai.Script(text="one two three four five", cut_after_words=3), "one two three "),
        ("anthropic", anth.Script(text="one two three four five", cut_after_words=3), "one two three "),
        ("google", gem.Script(text="one two three four five", cut_after_chunks=2), "one two three four "),
        ("anthropic", anth.Script(text="one two three four", error_event_after_words=2), "one two "),
        ("openai", oai.Script(text="one two three four", error_chunk_after_words=2), "one two "),
        ("google", gem.Script(text="one two three four", error_chunk_after_chunks=1), "one two "),
        ("anthropic", anth.Script(text="one two three four", malformed_after_words=2), "one two "),
        ("google", gem.Script(text="one two three four", malformed_after_chunks=1), "one two "),
        ("anthropic", anth.Script(text="one two three", no_message_stop=True), "one two three "),
        ("google", gem.Script(text="one two three", no_finish=True), "one two three "),
        ("anthropic", anth.Script(text="one two three four", stall_after_words=2), "one two "),
        ("openai", oai.Script(text="one two three four", malformed_after_words=2), "one two "),
        ("openai", oai.Script(text="one two three four", end_after_words=3), "one two three "),
    ],
    ids=[
        "openai-cut",
        "anthropic-cut",
        "gemini-cut",
        "anthropic-error-event",
        "openai-error-chunk",
        "gemini-error-chunk",
        "anthropic-malformed",
        "gemini-malformed",
        "anthropic-no-stop",
        "gemini-no-finish",
        "anthropic-read-timeout",
        "openai-malformed",
        "openai-no-finish",
    ],
)
async def test_a_stream_broken_mid_answer_keeps_the_text_and_charges_the_bound_of_it_as_estimated(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, script: Any, partial: str
) -> None:
    fake = fake_for(fakes, provider)
    fake.then(script)
    async with harness(tmp_path, **env(fakes, MODELS[provider], request_timeout=0.2)) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply = await h.say("/ask count", user=BOB)
        assert reply.answers == [partial]
        assert reply.lines == [CUT_OFF.format(model=MODELS[provider])]
        assert len(fake.requests) == 1  # never retried once text was shown
        charges = await settled(h)
        assert [(c["model"], c["estimated"]) for c in charges] == [(MODELS[provider], 1)]
        assert 0 < charges[0]["cost"] == reserved[0].bound_of(partial) < reserved[0].hold.amount
        assert (await h.ledger.summary(BOB)).spent == charges[0]["cost"]


@pytest.mark.parametrize(
    ("provider", "script", "line"),
    [
        ("google", gem.Script(malformed_after_chunks=0), "sent an answer we could not read; try again"),
        ("google", gem.Script(cut_after_chunks=0), "sent an answer we could not read; try again"),
        ("anthropic", anth.Script(malformed_after_words=0), "sent an answer we could not read; try again"),
        ("openai", oai.Script(malformed_after_words=0), "sent an answer we could not read; try again"),
    ],
    ids=["gemini-malformed", "gemini-cut", "anthropic-malformed", "openai-malformed"],
)
async def test_a_stream_broken_before_any_text_is_one_line_and_no_charge(
    fakes: Fakes, tmp_path: Path, provider: str, script: Any, line: str
) -> None:
    fake_for(fakes, provider).then(script)
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == []
        assert reply.lines == [f"{MODELS[provider]} {line}. You were not charged."]
        assert await settled(h) == []


async def test_an_error_event_before_any_text_is_retried_and_charged_once(
    fakes: Fakes, tmp_path: Path, sleeps: list[float]
) -> None:
    _, anthropic, _ = fakes
    anthropic.then(anth.Script(error_event_after_words=0), anth.Script(text="second try", input_tokens=20))
    async with harness(tmp_path, **env(fakes, MODELS["anthropic"])) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == ["second try "] and reply.lines == []
        assert len(anthropic.requests) == 2 and len(sleeps) == 1
        charges = await settled(h)
        assert [(c["input_tokens"], c["output_tokens"], c["estimated"]) for c in charges] == [(20, 2, 0)]


# -- streams that are fine but unusual -----------------------------------------------------------------


async def test_comment_lines_and_pings_are_ignored(fakes: Fakes, tmp_path: Path) -> None:
    openai, anthropic, _ = fakes
    anthropic.then(anth.Script(text="kept whole", comments=True, input_tokens=20, output_tokens=2))
    openai.then(oai.Script(text="also whole", keepalive=True, prompt_tokens=20, completion_tokens=2))
    async with harness(tmp_path, **env(fakes, MODELS["anthropic"])) as h:
        assert (await h.say("/ask hi", user=BOB)).answers == ["kept whole "]
        await h.say(f"/model {MODELS['openai']}", user=BOB)
        assert (await h.say("/ask hi", user=BOB)).answers == ["also whole "]
        charges = await settled(h)
        assert [(c["input_tokens"], c["output_tokens"], c["estimated"]) for c in charges] == [(20, 2, 0)] * 2


@pytest.mark.parametrize(
    ("provider", "script"),
    [("openai", oai.Script(text="fine", usage=False)), ("google", gem.Script(text="fine", usage="none"))],
)
async def test_a_stream_that_never_reports_usage_is_charged_the_bound_of_its_text_as_estimated(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, script: Any
) -> None:
    fake_for(fakes, provider).then(script)
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        reserved = spy_reserves(h, monkeypatch)
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == ["fine "] and reply.lines == []
        charges = await settled(h)
        assert [(c["model"], c["estimated"], c["output_tokens"]) for c in charges] == [
            (MODELS[provider], 1, 0)
        ]
        assert 0 < charges[0]["cost"] == reserved[0].bound_of("fine ") < reserved[0].hold.amount
