"""The API against its own OpenAPI document: schemathesis generates valid and invalid requests for every
operation and checks status codes, content types and response bodies against the document.

The API runs on a real socket in a thread with its own event loop (schemathesis calls are synchronous).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bot.api.openapi import openapi_document
from bot.web import serve
from tests.harness import CENT, charge, harness, meet

TOKEN = "schema-test-token-0123456789"
schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("api")
    ready, stop = threading.Event(), threading.Event()
    found: list[str] = []
    failed: list[BaseException] = []

    async def main() -> None:
        async with harness(tmp, admin_api_token=TOKEN) as h:
            for user, name in (("telegram:2", "bob"), ("discord:3", "carol"), ("telegram:1", "boss")):
                await meet(h.ledger, user, name)
            await charge(h.ledger, "telegram:2", 3 * CENT, "openai/gpt-4o", input_tokens=10)
            async with serve(h.core, h.settings, host="127.0.0.1", port=0) as port:
                found.append(f"http://127.0.0.1:{port}")
                ready.set()
                await asyncio.to_thread(stop.wait)

    def thread() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced below instead of hanging the test
            failed.append(exc)
            ready.set()

    worker = threading.Thread(target=thread, daemon=True)
    worker.start()
    ready.wait(30)
    if failed:
        raise failed[0]
    yield found[0] + "/api/v1"
    stop.set()
    worker.join(30)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: Any, live_api: str) -> None:
    case.call_and_validate(base_url=live_api, headers={"Authorization": f"Bearer {TOKEN}"})


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_the_token_every_operation_is_401(case: Any, live_api: str) -> None:
    response = case.call(base_url=live_api, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
