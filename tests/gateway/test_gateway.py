"""The gateway end to end: the official `openai` client against the bot's /v1, the real core, ledger and
providers against the fake model servers. Amounts are checked to the nano-dollar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from bot.money import format_usd, usd_to_nanos
from bot.web import web_app
from bot.web_limits import listening
from tests.core.test_ask import BOB, MODEL, expected_cost, holds, openai_settings
from tests.fakes.llm_openai import FakeOpenAI, Script
from tests.harness import Harness, check_invariants, harness, spy_reserves

KEYS = {"sk-capbot-bob": BOB, "sk-capbot-eve": "telegram:5"}


async def authenticate(secret: str) -> str | None:
    """The tests' own key store: the ledger's keys are another part's."""
    return KEYS.get(secret)


@asynccontextmanager
async def gateway(tmp_path: Path, fake: FakeOpenAI, **more: Any) -> AsyncIterator[tuple[Harness, str]]:
    """A core with GATEWAY=1 served on a free port; yields it and the base URL an OpenAI client takes."""
    settings = openai_settings(fake, gateway=True, provider_retries=0, **more)
    async with (
        harness(tmp_path, **settings) as h,
        listening(web_app(h.core, h.settings, authenticate=authenticate)) as root,
    ):
        yield h, f"{root}/v1"


def client(base_url: str, key: str = "sk-capbot-bob") -> AsyncOpenAI:
    return AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)


def cost_of(usage: Any) -> Decimal:
    return Decimal(str(usage.model_extra["cost"]))


async def test_a_whole_answer_with_usage_and_cost(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(text="Lima is the capital.", prompt_tokens=40, completion_tokens=5))
    async with gateway(tmp_path, fake_openai) as (h, url):
        answer = await client(url).chat.completions.create(
            model=MODEL,
            messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Peru?"}],
            max_tokens=50,
            temperature=0.3,
            top_p=0.9,
            stop=["END"],
        )
        spent = (await h.ledger.summary(BOB)).spent
        await check_invariants(h.ledger)
    assert answer.choices[0].message.content == "Lima is the capital. "
    assert answer.choices[0].finish_reason == "stop" and answer.model == MODEL
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        40,
        5,
    )
    assert spent == expected_cost(40, 5) and usd_to_nanos(cost_of(answer.usage)) == spent
    sent = fake_openai.requests[0].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Peru?"},
    ]
    assert (sent["max_completion_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (
        50,
        0.3,
        0.9,
        ["END"],
    )


async def test_a_streamed_answer_ends_with_usage_and_cost(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(text="one two three", prompt_tokens=30, completion_tokens=3))
    async with gateway(tmp_path, fake_openai) as (h, url):
        stream = await client(url).chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": [{"type": "text", "text": "count"}]}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        spent = (await h.ledger.summary(BOB)).spent
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices and usage.completion_tokens == 3
    assert spent == expected_cost(30, 3) and usd_to_nanos(cost_of(usage)) == spent
    assert fake_openai.requests[0].body["max_completion_tokens"] == h.settings.max_output_tokens


async def test_models_lists_the_priced_models(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    async with gateway(tmp_path, fake_openai) as (_, url):
        models = {m.id: m for m in (await client(url).models.list()).data}
    pricing = models[MODEL].model_extra["pricing"]
    assert (pricing["prompt"], pricing["completion"], pricing["request"]) == ("0.00000015", "0.0000006", "0")
    assert all(model_id.startswith("openai/") for model_id in models)


async def test_a_wrong_key_is_an_authentication_error(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    async with gateway(tmp_path, fake_openai) as (_, url):
        with pytest.raises(openai.AuthenticationError):
            await client(url, "sk-capbot-wrong").chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.AuthenticationError):
            await client(url, "sk-capbot-wrong").models.list()
    assert fake_openai.requests == []


async def test_fifty_at_once_never_pass_the_cap(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    """An allowance for about two full answers: the provider's bill stays within it, the rest get 402."""
    fake_openai.default = Script(fill_to_limit=True, prompt_tokens=12, keepalive=False)
    cap = Decimal("0.0015")  # a full answer of 1000 tokens holds about $0.0006
    async with gateway(tmp_path, fake_openai, default_cap_usd=cap, max_in_flight=100) as (h, url):
        gpt = client(url)

        async def ask() -> str:
            try:
                answer = await gpt.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "write"}], max_tokens=1000
                )
            except openai.APIStatusError as refused:
                assert refused.status_code == 402, refused
                assert "left" in refused.message and "resets" in refused.message
                return "402"
            return answer.choices[0].finish_reason

        outcomes = await asyncio.gather(*(ask() for _ in range(50)))
        spent = (await h.ledger.summary(BOB)).spent
        await check_invariants(h.ledger)
    bill = sum(expected_cost(12, request.output_limit or 0) for request in fake_openai.requests)
    assert bill <= usd_to_nanos(cap) and spent == bill
    assert len(fake_openai.requests) >= 2 and outcomes.count("402") == 50 - len(fake_openai.requests)
    assert set(outcomes) <= {"402", "length"}  # each answer used all it was allowed


async def test_spend_in_chat_shows_the_gateways_charges(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(prompt_tokens=0, completion_tokens=35_000))
    async with gateway(tmp_path, fake_openai, max_output_tokens=50_000) as (h, url):
        await client(url).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=40_000
        )
        lines = (await h.say("/spend", user=BOB)).last.splitlines()
    assert expected_cost(0, 35_000) == usd_to_nanos(Decimal("0.021"))
    assert lines[0].startswith(f"Spent {format_usd(usd_to_nanos(Decimal('0.021')))} this month")
    assert f"{MODEL} $0.021" in lines[-2]  # the top models, above the language line


async def test_a_client_leaving_mid_stream_pays_the_bound_of_what_it_got(
    fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_openai.then(Script(text="one two three four five six", stall_after_words=3))
    async with gateway(tmp_path, fake_openai) as (h, url):
        granted = spy_reserves(h, monkeypatch)
        stream = await client(url).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "count"}], stream=True
        )
        received = ""
        async for chunk in stream:
            received += chunk.choices[0].delta.content or ""
            if received == "one two three ":
                break
        await stream.close()  # the client hangs up while the provider is still thinking
        row = await settled_charge(h)
        await check_invariants(h.ledger)
    assert row is not None and int(row["estimated"]) == 1
    assert int(row["cost"]) == granted[0].bound_of("one two three ") < granted[0].hold.amount


async def settled_charge(h: Harness) -> Any:
    """Bob's one charge, once the server has settled it (it does so in its own time after a hang-up)."""
    for _ in range(400):
        if await holds(h) == 0:
            break
        await asyncio.sleep(0.025)
    return await h.db.fetchone("SELECT cost, estimated FROM charges WHERE user_id = ?", BOB)


async def test_refusals_in_openai_shape(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.then(Script(status=500))
    async with gateway(tmp_path, fake_openai, rate_limit_per_minute=1) as (h, url):
        gpt = client(url)
        hi = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.BadRequestError, match="Can't use openai/nope"):
            await gpt.chat.completions.create(model="openai/nope", messages=hi)
        with pytest.raises(openai.InternalServerError) as failed:
            await gpt.chat.completions.create(model=MODEL, messages=hi)
        assert failed.value.status_code in (502, 503) and "not charged" in failed.value.message
        with pytest.raises(openai.RateLimitError) as limited:
            await gpt.chat.completions.create(model=MODEL, messages=hi)
        assert int(limited.value.response.headers["retry-after"]) > 0
        eve = client(url, "sk-capbot-eve")
        with pytest.raises(openai.BadRequestError, match="function calling"):
            tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            await eve.chat.completions.create(model=MODEL, messages=hi, tools=[tool])
        await h.say("/block telegram:5")
        with pytest.raises(openai.PermissionDeniedError):
            await eve.chat.completions.create(model=MODEL, messages=hi)
        assert (await h.ledger.summary(BOB)).spent == 0
        await check_invariants(h.ledger)
    assert len(fake_openai.requests) == 1  # the failed call; nothing else reached the provider


async def test_a_persons_own_key_spends_their_allowance_until_it_is_revoked(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """Done when: OPENAI_BASE_URL=.../v1 OPENAI_API_KEY=<a person's key> works through capbot, charged to
    that person. The ledger's own keys here (no test key store): made by the owner, revoked by the owner."""
    fake_openai.then(Script(text="Hi.", prompt_tokens=12, completion_tokens=2))
    settings = openai_settings(fake_openai, gateway=True, provider_retries=0)
    async with harness(tmp_path, **settings) as h, listening(web_app(h.core, h.settings)) as root:
        issued = await h.core.services.owner_actions.create_key(BOB, "laptop")
        own = client(f"{root}/v1", issued.secret)
        answer = await own.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "Hi. "
        assert (await h.ledger.summary(BOB)).spent == expected_cost(12, 2)
        assert "Spent" in (await h.say("/spend", user=BOB)).last  # the same allowance as chat
        await h.core.services.owner_actions.revoke_key(BOB, issued.prefix)
        with pytest.raises(openai.AuthenticationError):
            await own.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "again"}])
        assert len(fake_openai.requests) == 1
        await check_invariants(h.ledger)
