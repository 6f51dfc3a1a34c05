"""Images through the gateway: the official `openai` client sends OpenAI's content parts (base64 `data:`
URLs) to the bot's /v1; the real core, ledger and providers pass them on to the fake model servers, which
bill them by each provider's published formula (`tests/fakes/image_billing.py`, written apart from the
bot). Charges are checked to the nano-dollar against what the fake billed; refusals are one 400 (or 402)
in OpenAI's shape, with nothing sent, charged or held."""

from __future__ import annotations

import asyncio
import base64
import io
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from PIL import Image

from bot.money import usd_to_nanos
from bot.web import web_app
from bot.web_limits import WebLimits, listening
from tests.core.test_ask import expected_cost
from tests.fakes.image_billing import openai_image
from tests.fakes.llm_fixtures import Fakes
from tests.fakes.llm_openai import Script
from tests.gateway.test_gateway import authenticate, cost_of
from tests.harness import Harness, harness
from tests.media.billing import genai_cost, sent_images
from tests.media.photos import image_size, photo
from tests.providers.wiring import BOB, MODELS, env, fake_for, settled

QUESTION = "What is in this picture?"


@asynccontextmanager
async def gateway(
    tmp_path: Path, fakes: Fakes, model: str = MODELS["openai"], **more: Any
) -> AsyncIterator[tuple[Harness, AsyncOpenAI, str]]:
    """All four wire formats against their fakes, GATEWAY=1 on a free port: the harness, Bob's OpenAI
    client and the server's root URL."""
    settings = env(fakes, model, gateway=True, provider_retries=0, **more)
    async with (
        harness(tmp_path, **settings) as h,
        listening(web_app(h.core, h.settings, authenticate=authenticate)) as root,
    ):
        yield h, AsyncOpenAI(base_url=f"{root}/v1", api_key="sk-capbot-bob", max_retries=0), root


def noise(width: int, height: int) -> bytes:
    """A PNG that doesn't compress: random pixels, about three bytes each."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3)).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(url: str, detail: str | None = None) -> dict[str, Any]:
    """An OpenAI `image_url` content part."""
    spec = {"url": url} | ({"detail": detail} if detail else {})
    return {"type": "image_url", "image_url": spec}


def asking(*parts: dict[str, Any], text: str = QUESTION) -> list[dict[str, Any]]:
    """One user message: the question as a text part, then the parts."""
    return [{"role": "user", "content": [{"type": "text", "text": text}, *parts]}]


async def ask(gpt: AsyncOpenAI, model: str, messages: list[Any], stream: bool = False) -> tuple[str, Any]:
    """The answer's text and usage, whole or streamed (with `include_usage`)."""
    if not stream:
        answer = await gpt.chat.completions.create(model=model, messages=messages)
        return answer.choices[0].message.content or "", answer.usage
    chunks = [
        chunk
        async for chunk in await gpt.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    ]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks[-1].usage


def user_content(provider: str, body: dict[str, Any], index: int = -1) -> list[dict[str, Any]]:
    """The parts of one user message as the provider received it."""
    if provider == "google":
        return list(body["contents"][index]["parts"])
    messages = [m for m in body["messages"] if m["role"] == "user"]
    return list(messages[index]["content"])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_an_image_goes_inline_and_is_charged_what_the_provider_bills(
    tmp_path: Path, fakes: Fakes, provider: str, stream: bool
) -> None:
    fake = fake_for(fakes, provider)
    model = MODELS[provider]
    async with gateway(tmp_path, fakes, model) as (h, gpt, _):
        text, usage = await ask(gpt, model, asking(image(data_url(photo(1600, 1200)))), stream)
        (charge,) = await settled(h)
    assert text
    body = fake.requests[-1].body
    (sent,) = sent_images(provider, body)
    (billed,) = fake.billed_images
    assert billed.tokens > 0 and (billed.width, billed.height) == image_size(sent)
    assert max(image_size(sent)) <= 2048  # scaled to what the model looks at, as for a chat photo
    assert charge["input_tokens"] == 12 + billed.tokens  # the fakes' 12 text tokens and the image's
    assert charge["cost"] == genai_cost(provider, model, charge["input_tokens"], charge["output_tokens"])
    assert usd_to_nanos(cost_of(usage)) == charge["cost"]
    parts = user_content(provider, body)
    match provider:
        case "openai":
            assert parts[0] == {"type": "text", "text": QUESTION}
            assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["detail"] == "high"
            assert parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
        case "anthropic":
            assert parts[0]["type"] == "image" and parts[0]["source"]["type"] == "base64"
            assert parts[0]["source"]["media_type"] == "image/jpeg"
            assert parts[1] == {"type": "text", "text": QUESTION}
        case "google":
            assert parts[0]["inline_data"]["mime_type"] == "image/jpeg" and parts[1] == {"text": QUESTION}


async def test_a_low_detail_png_is_priced_and_sent_at_low_detail(tmp_path: Path, fakes: Fakes) -> None:
    """`detail: "low"` is honoured where the model bills it apart (OpenAI's tiles): gpt-4o-mini's 2,833
    tokens, not the 2,833 + 5,667 a tile a full look would cost; a PNG is sent as a PNG."""
    openai_fake = fakes[0]
    async with gateway(tmp_path, fakes) as (h, gpt, _):
        png = data_url(photo(400, 300, "PNG"), "image/png")  # within 512 px: sent as it came
        await ask(gpt, MODELS["openai"], asking(image(png, "low")))
        (charge,) = await settled(h)
    (billed,) = openai_fake.billed_images
    assert (billed.detail, billed.tokens, billed.mime) == ("low", 2833, "image/png")
    assert charge["input_tokens"] == 12 + 2833
    assert charge["cost"] == expected_cost(charge["input_tokens"], charge["output_tokens"])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_images_of_earlier_turns_are_sent_and_charged_too(
    tmp_path: Path, fakes: Fakes, provider: str
) -> None:
    """The gateway keeps no history: the client sends it, images included, and each is sent and paid for
    (a user message may be an image alone: no empty text part goes with it)."""
    fake = fake_for(fakes, provider)
    model = MODELS[provider]
    first, second = photo(512, 512), photo(300, 200)
    messages = [
        {"role": "system", "content": "Be brief."},
        *asking(image(data_url(first)), text="What breed is this dog?"),
        {"role": "assistant", "content": "A beagle."},
        {"role": "user", "content": [image(data_url(second))]},
    ]
    async with gateway(tmp_path, fakes, model) as (h, gpt, _):
        await ask(gpt, model, messages)
        (charge,) = await settled(h)
    body = fake.requests[-1].body
    earlier, last = user_content(provider, body, 0), user_content(provider, body, -1)
    assert len(earlier) == 2 and any(p.get("text") == "What breed is this dog?" for p in earlier)
    assert len(last) == 1 and "text" not in last[0]  # the image alone
    assert [image_size(i) for i in sent_images(provider, body)] == [(300, 200)]  # the last message's
    assert len(fake.billed_images) == 2
    assert charge["input_tokens"] == 12 + sum(b.tokens for b in fake.billed_images)
    assert charge["cost"] == genai_cost(provider, model, charge["input_tokens"], charge["output_tokens"])


def bill(request: Any) -> int:
    """What one gpt-4o-mini request the fake answered costs: its images by OpenAI's formula (the fake's
    own count), 12 text tokens, and the output it filled to its limit."""
    tokens = 12
    for message in request.body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else ():
            if part["type"] == "image_url":
                url, detail = part["image_url"]["url"], part["image_url"].get("detail", "auto")
                tokens += openai_image(url, detail, "gpt-4o-mini").tokens
    return expected_cost(tokens, request.output_limit or 0)


async def test_image_requests_at_once_never_pass_a_small_cap(tmp_path: Path, fakes: Fakes) -> None:
    """Twelve image requests at once on an allowance for about two at full size: two go at full size, one
    smaller (the allowance left), the rest are 402; the bill stays within the cap, charged exactly."""
    openai_fake = fakes[0]
    openai_fake.default = Script(fill_to_limit=True, keepalive=False)
    cap = Decimal("0.009")  # a 1024x1024 image on gpt-4o-mini: 25,501 tokens, about $0.0038
    async with gateway(tmp_path, fakes, default_cap_usd=cap, max_in_flight=100) as (h, gpt, _):

        async def one() -> str:
            messages = asking(image(data_url(photo(1024, 1024))))
            try:
                answer = await gpt.chat.completions.create(
                    model=MODELS["openai"], messages=messages, max_tokens=400
                )
            except openai.APIStatusError as refused:
                assert refused.status_code == 402 and "left" in refused.message, refused
                return "402"
            return answer.choices[0].finish_reason

        outcomes = await asyncio.gather(*(one() for _ in range(12)))
        charges = await settled(h)
        spent = (await h.ledger.summary(BOB)).spent
    bills = [bill(request) for request in openai_fake.requests]
    assert spent == sum(bills) == sum(c["cost"] for c in charges) and spent <= usd_to_nanos(cap)
    assert outcomes.count("402") == 12 - len(openai_fake.requests)
    # two at full size use most of it; what is left pays one more at low detail (2,833 tokens), no more
    assert sorted(b.detail for b in openai_fake.billed_images) == ["high", "high", "low"]


async def test_an_image_the_allowance_cant_pay_at_full_size_goes_smaller_or_is_a_402(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai_fake = fakes[0]
    big = asking(image(data_url(photo(2000, 2000))))
    async with gateway(tmp_path, fakes, default_cap_usd=Decimal("0.002")) as (h, gpt, _):
        await ask(gpt, MODELS["openai"], big)
        (billed,) = openai_fake.billed_images
        assert billed.detail == "low" or billed.tokens < 2833 + 5667 * 4
        (charge,) = await settled(h)
        assert charge["input_tokens"] == 12 + billed.tokens
        assert charge["cost"] == expected_cost(charge["input_tokens"], charge["output_tokens"])
        assert charge["cost"] <= usd_to_nanos(Decimal("0.002"))
    (tmp_path / "poor").mkdir()
    async with gateway(tmp_path / "poor", fakes, default_cap_usd=Decimal("0.0003")) as (h, gpt, _):
        with pytest.raises(openai.APIStatusError) as refused:
            await ask(gpt, MODELS["openai"], big)
        assert refused.value.status_code == 402 and "left" in refused.value.message
        assert refused.value.code == "insufficient_quota"
        assert await settled(h) == []
    assert len(openai_fake.requests) == 1


CORRUPT = data_url(photo(800, 600)[:400])
REFUSED = [
    pytest.param(asking(image("https://example.com/cat.png")), "does not fetch image URLs", id="http-url"),
    pytest.param(asking(image("HTTP://example.com/cat.png")), "does not fetch image URLs", id="HTTP-url"),
    pytest.param(asking(image("data:image/png,%89PNG")), "not a base64 data: URL", id="not-base64-url"),
    pytest.param(asking(image("file:///etc/passwd")), "not a base64 data: URL", id="file-url"),
    pytest.param(asking(image("data:image/png;base64,@@@@")), "base64 is not valid", id="bad-base64"),
    pytest.param(asking(image(CORRUPT)), "not an image, or it is damaged", id="truncated"),
    pytest.param(asking(image(data_url(b"hello", "image/png"))), "not an image", id="not-an-image"),
    pytest.param(asking(image(data_url(b""))), "the file is empty", id="empty"),
    pytest.param(
        asking(image(data_url(photo(64, 64, "BMP"), "image/bmp"))), "JPEG, PNG, WebP or GIF", id="bmp"
    ),
    pytest.param(
        asking(*[image(data_url(photo(64, 64)))] * 3),
        "at most 2 images in one request, those of earlier messages included",
        id="too-many",
    ),
    pytest.param(
        [
            *asking(image(data_url(photo(64, 64))), image(data_url(photo(64, 64)))),
            {"role": "assistant", "content": "Two squares."},
            *asking(image(data_url(photo(64, 64))), text="And this?"),
        ],
        "at most 2 images in one request",
        id="too-many-with-history",
    ),
    pytest.param(
        [{"role": "assistant", "content": [image(data_url(photo(64, 64)))]}, *asking()],
        "image_url parts are taken in user messages only",
        id="assistant-image",
    ),
    pytest.param(
        asking({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
        "input_audio) are not supported",
        id="audio",
    ),
    pytest.param(
        asking({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}),
        "'file' parts are not supported",
        id="file-part",
    ),
]


@pytest.mark.parametrize(("messages", "why"), REFUSED)
async def test_a_bad_image_request_is_one_400_and_no_charge(
    tmp_path: Path, fakes: Fakes, messages: list[Any], why: str
) -> None:
    openai_fake = fakes[0]
    async with gateway(tmp_path, fakes, max_images=2) as (h, gpt, _):
        for stream in (False, True):  # a refusal comes before any answer, streamed or not
            with pytest.raises(openai.BadRequestError) as refused:
                await ask(gpt, MODELS["openai"], messages, stream)
            assert why in refused.value.message and refused.value.type == "invalid_request_error"
        assert await settled(h) == []
    assert openai_fake.requests == []


@pytest.mark.parametrize("model", ["deepseek/deepseek-chat", "openai/gpt-3.5-turbo"])
async def test_a_model_that_cant_see_is_a_400_naming_models_that_can(
    tmp_path: Path, fakes: Fakes, model: str
) -> None:
    openai_fake = fakes[0]
    more = {"deepseek_api_key": "sk-deepseek-0123456789", "deepseek_base_url": openai_fake.url}
    async with gateway(tmp_path, fakes, **more) as (h, gpt, _):
        with pytest.raises(openai.BadRequestError) as refused:
            await ask(gpt, model, asking(image(data_url(photo(300, 300)))))
        assert f"{model} can't see images" in refused.value.message
        assert "openai/gpt-4o-mini" in refused.value.message and "claude" in refused.value.message
        assert refused.value.code == "model_cannot_see_images"
        await ask(gpt, model, asking(text="Just text, then."))  # text alone is answered as before
        (charge,) = await settled(h)
    assert charge["model"] == model and len(openai_fake.requests) == 1


async def test_images_turned_off_and_files_over_max_media_mb_are_refused(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai_fake = fakes[0]
    async with gateway(tmp_path, fakes, max_images=0) as (h, gpt, _):
        with pytest.raises(openai.BadRequestError, match="doesn't take images"):
            await ask(gpt, MODELS["openai"], asking(image(data_url(photo(64, 64)))))
        assert await settled(h) == []
    big = noise(300, 300)
    assert len(big) > 0.1 * 1024 * 1024
    (tmp_path / "small").mkdir()
    async with gateway(tmp_path / "small", fakes, max_media_mb=Decimal("0.1")) as (h, gpt, _):
        with pytest.raises(openai.BadRequestError, match=r"larger than 0\.1 MB") as refused:
            await ask(gpt, MODELS["openai"], asking(image(data_url(big, "image/png"))))
        assert refused.value.code == "invalid_image"
        assert await settled(h) == []
    assert openai_fake.requests == []


async def test_a_body_over_the_limit_is_a_413_and_a_wrong_key_is_told_before_the_body_is_read(
    tmp_path: Path, fakes: Fakes
) -> None:
    """The body limit is MAX_IMAGES images of MAX_MEDIA_MB, base64, and 1 MB of text: here 1 image of
    0.1 MB, so about 1.13 MB. A wrong key is a 401 whatever the body (nobody without a key makes the
    server read megabytes)."""
    openai_fake = fakes[0]
    huge = {
        "model": MODELS["openai"],
        "messages": asking(image("data:image/png;base64," + "A" * 2_000_000)),
    }
    url_of = "{}/v1/chat/completions"
    async with (
        gateway(tmp_path, fakes, max_images=1, max_media_mb=Decimal("0.1")) as (h, _, root),
        aiohttp.ClientSession() as session,
    ):
        bob = {"Authorization": "Bearer sk-capbot-bob"}
        async with session.post(url_of.format(root), json=huge, headers=bob) as response:
            assert response.status == 413
            error = (await response.json())["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"
        assert "MAX_IMAGES=1 of MAX_MEDIA_MB=0.1 MB each" in error["message"]
        wrong = {"Authorization": "Bearer sk-capbot-wrong"}
        async with session.post(url_of.format(root), json=huge, headers=wrong) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"
        async with session.post(
            url_of.format(root), json={"model": MODELS["openai"], "messages": asking()}, headers=bob
        ) as response:
            assert response.status == 200  # a plain request on the same server, as before
        assert len(await settled(h)) == 1
    assert len(openai_fake.requests) == 1


async def test_a_half_sent_body_is_a_408_within_the_deadline(tmp_path: Path, fakes: Fakes) -> None:
    """The gateway reads its bodies itself (after the key), still within WebLimits.body_timeout."""
    limits = WebLimits(head_timeout=1, body_timeout=1, idle_timeout=1)
    settings = env(fakes, gateway=True, provider_retries=0)
    async with (
        harness(tmp_path, **settings) as h,
        listening(
            web_app(h.core, h.settings, limits=limits, authenticate=authenticate), limits=limits
        ) as root,
    ):
        host, port = root.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-capbot-bob\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        writer.write(head.encode() + b'{"model": ')
        async with asyncio.timeout(30):  # the server must answer and close by itself
            said = await reader.read()
        writer.close()
        assert said.startswith(b"HTTP/1.1 408 ") and b'"code": "timeout"' in said
        assert await settled(h) == []
    assert fakes[0].requests == []
