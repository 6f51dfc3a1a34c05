"""Parts of a key, not only the whole key and its ends, never reach a log line or a reply.

Providers echo pieces of a bad key in their errors (a middle run, a key cut at a line break); the
redaction masks any run of 8 or more characters of any configured secret, wherever it comes from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.redact import FRAGMENT, MASK, Redactor, install_redaction
from tests.fakes import llm_openai as oai
from tests.fakes.llm_fixtures import Fakes
from tests.harness import harness
from tests.providers.wiring import BOB, KEYS, env, settled

KEY = KEYS["openai"]


def runs_of(secret: str) -> list[str]:
    return [secret[i : i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1)]


def assert_no_run(texts: list[str]) -> None:
    for secret in KEYS.values():
        for run in runs_of(secret):
            assert all(run not in text for text in texts), run


async def test_a_key_fragment_in_a_provider_error_reaches_neither_the_log_nor_the_person(
    fakes: Fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    middle, cut = KEY[6:19], KEY[3:12]  # neither the key's start nor its end, and a 9-character piece
    message = f"Invalid 'user' value near {middle!r}; header was truncated at '{cut}\\n...'"
    fakes[0].default = oai.Script(
        status=400, error_body=oai.openai_error(400, message, "invalid_request_error")
    )
    async with harness(tmp_path, **env(fakes)) as h:
        installed = install_redaction(h.settings.secrets())  # as `python -m bot` installs it
        try:
            reply = await h.say("/ask hi", user=BOB)
        finally:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(installed)
        said = [*reply.lines, *reply.answers]
        assert said and "refused the request" in said[0]
        logged = [caplog.text, *(r.getMessage() for r in caplog.records)]
        assert any(MASK in text for text in logged)  # the error was logged, with the fragments masked
        assert_no_run(said + logged)
        await settled(h)


def test_any_run_of_eight_characters_of_a_secret_is_masked_in_any_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    installed = install_redaction(KEYS.values())
    try:
        for secret in KEYS.values():
            for start in range(0, len(secret) - FRAGMENT + 1, 3):
                piece = secret[start : start + FRAGMENT + start % 5]
                logging.getLogger("aiohttp.client").warning("upstream said: %s (retrying)", piece)
                try:
                    raise RuntimeError(f"bad header {piece!r}")
                except RuntimeError:
                    logging.getLogger("bot.test").exception("unexpected")
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(installed)
    assert_no_run([caplog.text, *(r.getMessage() for r in caplog.records)])
    assert "upstream said: [redacted] (retrying)" in caplog.text


def test_text_around_a_fragment_and_short_common_runs_are_kept() -> None:
    redactor = Redactor(["sk-proj-FaultKey0123456789abcdefXYZ"])
    assert redactor.redact("key Key0123456789ab, ok") == f"key {MASK}, ok"
    # two runs of the key that overlap in the text are one mask; seven characters alone are not a run
    assert redactor.redact("xFaultKey01FaultKey0y") == f"x{MASK}y"
    assert redactor.redact("FaultKe and 0123456 stay") == "FaultKe and 0123456 stay"
    assert Redactor(["abcd"]).redact("xabcdx abc") == f"x{MASK}x abc"  # a short secret only whole
