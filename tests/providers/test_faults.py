"""Provider faults through the real core: what the person hears, what the owner's log says, and the ledger.

Rejected keys (never seen in logs or replies), rate limits (retried after the wait the provider asked
for), overloads (retried, then the fallback models), context too long (history dropped once), refused
connections and silence. Every test ends with the ledger's invariants and no hold left open. Broken and
unusual streams are in test_streams.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bot.providers import http
from bot.redact import MASK, RedactingFilter, install_redaction
from tests.doubles import RecordingReply
from tests.fakes import llm_anthropic as anth
from tests.fakes import llm_gemini as gem
from tests.fakes import llm_openai as oai
from tests.fakes.llm_anthropic import FakeAnthropic
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_gemini import FakeGemini
from tests.harness import harness
from tests.providers.wiring import BOB, KEYS, MODELS, env, fake_for, settled


def assert_no_key(caplog: pytest.LogCaptureFixture, *replies: RecordingReply) -> None:
    said = [line for r in replies for line in (*r.lines, *r.answers)]
    logged = [
        caplog.text,
        *(r.getMessage() for r in caplog.records),
        *(r.exc_text or "" for r in caplog.records),
    ]
    for key in KEYS.values():
        for fragment in (key, key[:8], key[-6:]):
            assert all(fragment not in text for text in said + logged), fragment


# -- 401/403: the key was rejected ---------------------------------------------------------------------


def rejected(provider: str) -> Any:
    key = KEYS[provider]
    if provider == "anthropic":
        return anth.unauthorized()
    if provider == "google":
        return gem.api_key_invalid()  # Google answers a bad key with 400 API_KEY_INVALID
    if provider == "azure":
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
            "valid key for an active subscription and use a correct regional API endpoint for your resource."
        )
        return oai.Script(status=401, error_body={"error": {"code": "401", "message": message}})
    message = f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com."
    return oai.Script(
        status=401, error_body=oai.openai_error(401, message, "invalid_request_error", "invalid_api_key")
    )


def forbidden(provider: str) -> Any:
    """403: a key that is known but may not do this (Google's echoes the key it suspended)."""
    if provider == "anthropic":
        message = "Your API key does not have permission to use the specified resource."
        return anth.Script(status=403, error_body=anth.anthropic_error("permission_error", message))
    if provider == "google":
        message = f"Permission denied: Consumer 'api_key:{KEYS[provider]}' has been suspended."
        return gem.Script(status=403, error_body=gem.gemini_error(403, "PERMISSION_DENIED", message))
    message = (
        "You have insufficient permissions for this operation. Missing scopes: model.request. Check that "
        "you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner)."
    )
    return oai.Script(status=403, error_body=oai.openai_error(403, message, "invalid_request_error"))


@pytest.mark.parametrize(
    ("provider", "status"),
    [
        ("openai", 401),
        ("anthropic", 401),
        ("google", 400),
        ("azure", 401),
        ("openai", 403),
        ("anthropic", 403),
        ("google", 403),
    ],
    ids=lambda v: str(v),
)
async def test_a_rejected_key_is_one_line_for_the_person_and_a_clear_redacted_log_for_the_owner(
    fakes: Fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture, provider: str, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_for(fakes, provider)
    fake.default = forbidden(provider) if status == 403 else rejected(provider)
    assert fake.default.status == status
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        reply = await h.say("/ask hi", user=BOB)
        model = MODELS[provider]
        assert reply.lines == [
            f"{model} is unavailable right now (the owner has been told). You were not charged."
        ]
        assert reply.answers == []
        assert len(fake.requests) == 1  # a rejected key is not retried
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("rejected the API key" in m and "_API_KEY" in m for m in errors), errors
        assert_no_key(caplog, reply)
        assert await settled(h) == []


async def test_the_redaction_filter_masks_every_configured_key_in_any_log_line(
    fakes: Fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with harness(tmp_path, **env(fakes)) as h:
        installed = install_redaction(h.settings.secrets())
        try:
            for key in KEYS.values():
                logging.getLogger("aiohttp.client").warning(
                    "sending headers %s", {"Authorization": f"Bearer {key}"}
                )
                try:
                    raise RuntimeError(f"request failed with key={key}")
                except RuntimeError:
                    logging.getLogger("bot.test").exception("unexpected")
            fake_for(fakes, "openai").default = rejected("openai")
            reply = await h.say("/ask hi", user=BOB)
        finally:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(installed)
        assert isinstance(installed, RedactingFilter) and set(KEYS.values()) <= set(installed.secrets)
        assert caplog.text.count(MASK) >= 2 * len(KEYS)
        assert_no_key(caplog, reply)
        await settled(h)


# -- 429: retried, honouring Retry-After ---------------------------------------------------------------


def in_seconds(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


RATE_LIMITED = oai.openai_error(
    429, "Rate limit reached for gpt-4o-mini on tokens per min (TPM).", "tokens", "rate_limit_exceeded"
)


@pytest.mark.parametrize(
    ("provider", "script", "waits"),
    [
        (
            "openai",
            lambda: oai.Script(status=429, error_body=RATE_LIMITED, headers={"Retry-After": "7"}),
            [7.0],
        ),
        (
            "openai",
            lambda: oai.Script(
                status=429, error_body=RATE_LIMITED, headers={"retry-after-ms": "1500", "Retry-After": "2"}
            ),
            [1.5],
        ),
        (
            "openai",
            lambda: oai.Script(status=429, error_body=RATE_LIMITED, headers={"Retry-After": in_seconds(5)}),
            [pytest.approx(5.0, abs=1.5)],  # whole seconds: up to one is lost to rounding, more to start-up
        ),
        ("anthropic", lambda: anth.rate_limited(retry_after="3"), [3.0]),
        ("google", lambda: gem.resource_exhausted("3s"), [3.0]),  # RetryInfo.retryDelay in the body
    ],
    ids=["retry-after", "retry-after-ms", "http-date", "anthropic", "gemini"],
)
async def test_a_rate_limit_is_retried_after_the_wait_asked_for_and_charged_once(
    fakes: Fakes,
    tmp_path: Path,
    sleeps: list[float],
    provider: str,
    script: Callable[[], Any],
    waits: list[Any],
) -> None:
    fake = fake_for(fakes, provider)
    fake.then(script())
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert len(reply.answers) == 1 and reply.lines == []
        assert len(fake.requests) == 2
        assert sleeps == [w if not isinstance(w, float) else pytest.approx(w, rel=0.2) for w in waits]
        charges = await settled(h)
        assert len(charges) == 1 and charges[0]["estimated"] == 0
        assert (await h.ledger.summary(BOB)).spent == charges[0]["cost"] > 0


async def test_a_retry_after_beyond_the_wait_limit_goes_straight_to_the_fallback(
    fakes: Fakes, tmp_path: Path, sleeps: list[float]
) -> None:
    openai, anthropic, _ = fakes
    openai.then(oai.Script(status=429, error_body=RATE_LIMITED, headers={"Retry-After": "3600"}))
    async with harness(tmp_path, **env(fakes, fallback_models=(MODELS["anthropic"],))) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert reply.answers == ["Hello from the fake Claude. "]
        assert (len(openai.requests), len(anthropic.requests), sleeps) == (1, 1, [])
        assert [c["model"] for c in await settled(h)] == [MODELS["anthropic"]]


# -- 5xx and 529: retried, then the fallback models ----------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "failure", "fallback"),
    [
        ("anthropic", anth.overloaded(), "openai"),
        ("openai", oai.Script(status=500), "anthropic"),
        (
            "openai",
            oai.Script(status=503, error_body=oai.openai_error(503, "Service Unavailable", "server_error")),
            "google",
        ),
        ("google", gem.unavailable(), "openai"),
        ("azure", oai.Script(status=502), "anthropic"),
    ],
    ids=["anthropic-529", "openai-500", "openai-503", "gemini-503", "azure-502"],
)
async def test_an_overloaded_provider_is_retried_then_the_fallback_answers(
    fakes: Fakes, tmp_path: Path, sleeps: list[float], provider: str, failure: Any, fallback: str
) -> None:
    primary, backup = fake_for(fakes, provider), fake_for(fakes, fallback)
    primary.default = failure
    settings = env(
        fakes, MODELS[provider], provider_retries=2, fallback_models=("nowhere/x", MODELS[fallback])
    )
    async with harness(tmp_path, **settings) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert len(reply.answers) == 1 and reply.lines == []
        assert (len(primary.requests), len(backup.requests)) == (3, 1)
        assert len(sleeps) == 2
        charges = await settled(h)
        assert [(c["model"], c["estimated"]) for c in charges] == [(MODELS[fallback], 0)]


async def test_an_overload_without_fallback_is_one_line_and_no_charge(fakes: Fakes, tmp_path: Path) -> None:
    _, anthropic, _ = fakes
    anthropic.default = anth.overloaded()
    async with harness(tmp_path, **env(fakes, MODELS["anthropic"], provider_retries=1)) as h:
        reply = await h.say("/ask hi", user=BOB)
        line = "anthropic/claude-haiku-4-5 is overloaded at its provider; try again shortly."
        assert reply.lines == [f"{line} You were not charged."]
        assert len(anthropic.requests) == 2 and await settled(h) == []


# -- context too long: history dropped once --------------------------------------------------------------


def history_sizes(fake: FakeAnthropic | FakeGemini) -> list[int]:
    key = "contents" if isinstance(fake, FakeGemini) else "messages"
    return [len(r.body[key]) for r in fake.requests]


@pytest.mark.parametrize(
    ("provider", "too_long"), [("anthropic", anth.prompt_too_long()), ("google", gem.input_too_long())]
)
async def test_context_too_long_drops_the_history_once_then_says_so(
    fakes: Fakes, tmp_path: Path, provider: str, too_long: Any
) -> None:
    fake = fake_for(fakes, provider)
    assert isinstance(fake, FakeAnthropic | FakeGemini)
    fake.then(type(too_long)(text="first answer"), too_long, type(too_long)(text="short answer"))
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        await h.say("/ask first question", user=BOB)
        reply = await h.say("/ask second question", user=BOB)
        assert reply.answers == ["short answer "] and reply.lines == []
        assert history_sizes(fake) == [1, 3, 1]
        fake.then(too_long, too_long)
        reply = await h.say("/ask third question", user=BOB)
        line = "cannot take a conversation this long; send /new and ask again. You were not charged."
        assert reply.lines == [f"{MODELS[provider]} {line}"]
        assert history_sizes(fake)[3:] == [5, 1]
        charges = await settled(h)
        assert len(charges) == 2 and all(c["estimated"] == 0 for c in charges)


# -- the network: refused connections and silence ------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("fallback", [False, True])
async def test_a_refused_connection_is_unavailable_or_falls_back(
    fakes: Fakes, tmp_path: Path, fallback: bool
) -> None:
    settings = env(fakes, openai_base_url=f"http://127.0.0.1:{closed_port()}/v1", provider_retries=1)
    if fallback:
        settings["fallback_models"] = (MODELS["anthropic"],)
    async with harness(tmp_path, **settings) as h:
        reply = await h.say("/ask hi", user=BOB)
        charges = await settled(h)
        if fallback:
            assert reply.answers == ["Hello from the fake Claude. "]
            assert [c["model"] for c in charges] == [MODELS["anthropic"]]
        else:
            assert reply.lines == [
                "openai/gpt-4o-mini cannot be reached right now; try again later. You were not charged."
            ]
            assert charges == []


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A listening port whose accept queue is full: the kernel drops new SYNs, so connecting times out."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        filler = socket.create_connection(("127.0.0.1", port))  # never accepted: the queue is now full
        try:
            yield port
        finally:
            filler.close()


@pytest.mark.parametrize("fallback", [False, True])
async def test_a_connect_timeout_is_retried_then_falls_back_or_is_one_line(
    fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float], fallback: bool
) -> None:
    openai, anthropic, _ = fakes
    monkeypatch.setattr(http, "CONNECT_TIMEOUT", 0.2)
    with unanswered_port() as port:
        settings = env(fakes, openai_base_url=f"http://127.0.0.1:{port}/v1", provider_retries=1)
        if fallback:
            settings["fallback_models"] = (MODELS["anthropic"],)
        async with harness(tmp_path, **settings) as h:
            reply = await h.say("/ask hi", user=BOB)
            assert openai.requests == [] and len(sleeps) == 1  # two attempts, neither connected
            charges = await settled(h)
            if fallback:
                assert reply.answers == ["Hello from the fake Claude. "] and reply.lines == []
                assert len(anthropic.requests) == 1
                assert [(c["model"], c["estimated"]) for c in charges] == [(MODELS["anthropic"], 0)]
            else:
                assert reply.lines == [
                    "openai/gpt-4o-mini took too long to answer; try again. You were not charged."
                ]
                assert charges == []


async def test_silence_before_the_answer_is_a_timeout_and_no_charge(fakes: Fakes, tmp_path: Path) -> None:
    _, anthropic, _ = fakes
    anthropic.default = anth.Script(stall_before_headers=True)
    settings = env(fakes, MODELS["anthropic"], request_timeout=0.2, provider_retries=1)
    async with harness(tmp_path, **settings) as h:
        reply = await h.say("/ask hi", user=BOB)
        assert reply.lines == [
            "anthropic/claude-haiku-4-5 took too long to answer; try again. You were not charged."
        ]
        assert len(anthropic.requests) == 2 and await settled(h) == []
