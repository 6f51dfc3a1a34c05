"""Photos through the whole core: each wire format receives the image inline and the person is charged
exactly what the fake provider billed for it (the fakes count image tokens by the providers' published
formulas, written out apart from the bot's); an image the allowance can't pay at full size goes smaller
or is refused, never billed past the cap; the history keeps `[image]`, not the image."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from bot.media import fitting
from bot.media.image_tokens import Sizing
from bot.media.images import CheckedImage
from bot.money import usd_to_nanos
from bot.providers.base import ImagePart
from tests.doubles import RecordingReply, message
from tests.fakes.llm_fixtures import Fakes
from tests.harness import harness, spy_reserves
from tests.media.billing import genai_cost, sent_images
from tests.media.photos import image_size, phone_photo, photo, with_photos
from tests.providers.wiring import BOB, MODELS, env, fake_for, settled


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "azure"])
async def test_a_photo_reaches_each_wire_format_and_is_charged_what_the_provider_bills(
    tmp_path: Path, fakes: Fakes, provider: str
) -> None:
    fake = fake_for(fakes, provider)
    async with harness(tmp_path, **env(fakes, MODELS[provider])) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is in this picture?", photo(1600, 1200)), reply)
        assert reply.answers and not reply.lines
        (sent,) = sent_images(provider, fake.requests[-1].body)
        width, height = image_size(sent)
        assert max(width, height) <= 2048
        (billed,) = fake.billed_images
        assert billed.tokens > 0 and (billed.width, billed.height) == (width, height)
        (charge,) = await settled(h)
    assert charge["input_tokens"] == 12 + billed.tokens  # the fakes' 12 text tokens and the image's
    expected = genai_cost(provider, MODELS[provider], charge["input_tokens"], charge["output_tokens"])
    assert charge["cost"] == expected


async def test_a_turned_phone_photo_is_sent_upright_at_exactly_the_size_the_quote_priced(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4032x3024 JPEG held turned (EXIF 6), decoded at a reduced scale: the image Claude receives is
    portrait, of exactly the size (and so the tokens) the hold priced, and billed that (the fake counts
    the pixels it received, by Anthropic's formula written apart from the bot's)."""
    anthropic = fake_for(fakes, "anthropic")
    priced: list[tuple[ImagePart, ...]] = []
    made = fitting.parts_at

    def recorded(images: Sequence[CheckedImage], sizings: Sequence[Sizing]) -> tuple[ImagePart, ...]:
        parts = made(images, sizings)
        priced.append(parts)
        return parts

    monkeypatch.setattr(fitting, "parts_at", recorded)
    async with harness(tmp_path, **env(fakes, MODELS["anthropic"])) as h:
        granted = spy_reserves(h, monkeypatch)
        await h.core.handle(with_photos("Which way up?", phone_photo(4032, 3024, 6)), RecordingReply())
        ((part,),) = priced
        (sent,) = sent_images("anthropic", anthropic.requests[-1].body)
        assert sent == part.data
        width, height = image_size(sent)
        assert height > width and max(width, height) <= 1568
        (billed,) = anthropic.billed_images
        assert (billed.width, billed.height) == (width, height) and billed.tokens == part.tokens
        (charge,) = await settled(h)
        (reserved,) = granted
    assert charge["input_tokens"] == 12 + part.tokens and charge["cost"] <= reserved.hold.amount


async def test_the_quote_holds_what_the_image_is_billed(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gpt-4o-mini bills 2,833 + 5,667 a tile: the hold priced the image by that formula before the call,
    so the charge (what the fake billed) is within it."""
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        granted = spy_reserves(h, monkeypatch)
        await h.core.handle(with_photos("", photo(1024, 1024)), RecordingReply())
        (billed,) = openai.billed_images
        assert billed.tokens == 2833 + 5667 * 4  # 1024x1024 → 768x768: four tiles
        (charge,) = await settled(h)
        (reserved,) = granted
    image_nanos = billed.tokens * Decimal("0.15") * 1000 / 1000  # $0.15 per million = 0.15 nano a token
    assert reserved.quote.input_nanos >= image_nanos
    assert charge["cost"] <= reserved.hold.amount
    question = openai.requests[-1].body["messages"][-1]["content"][0]["text"]
    assert question == "Describe this image."  # a photo alone is asked about


async def test_an_image_the_allowance_cant_pay_at_full_size_is_sent_smaller(
    tmp_path: Path, fakes: Fakes
) -> None:
    """A 4-tile image on gpt-4o-mini is about $0.0038 of input; with $0.002 left it goes at low detail
    (2,833 tokens, $0.00042) and the person is told."""
    openai = fakes[0]
    async with harness(tmp_path, default_cap_usd=Decimal("0.002"), **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(2000, 2000)), reply)
        (billed,) = openai.billed_images
        assert billed.detail == "low" or billed.tokens < 2833 + 5667 * 4
        assert reply.answers and "lower resolution" in reply.last
        (charge,) = await settled(h)
        assert charge["cost"] <= usd_to_nanos(Decimal("0.002"))
        summary = await h.ledger.summary(BOB)
        assert summary.remaining is not None and summary.remaining >= 0


async def test_an_image_no_size_of_which_the_allowance_can_pay_is_refused(
    tmp_path: Path, fakes: Fakes
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, default_cap_usd=Decimal("0.0003"), **env(fakes)) as h:
        reply = await h.say("", user=BOB, attachments=with_photos("", photo(2000, 2000)).attachments)
        assert len(reply.lines) == 1 and "left" in reply.last.lower() and not reply.answers
        assert openai.requests == [] and await settled(h) == []


async def test_follow_ups_keep_a_stand_in_not_the_image(tmp_path: Path, fakes: Fakes) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        await h.core.handle(with_photos("What breed is this dog?", photo(512, 512)), RecordingReply())
        await h.core.handle(message("And how big do they get?", user=BOB), RecordingReply())
        follow_up = openai.requests[-1].body["messages"]
        assert follow_up[-3]["content"] == "[image] What breed is this dog?"
        assert all(isinstance(m["content"], str) for m in follow_up)
        assert len(openai.billed_images) == 1  # the image was billed once
        assert len(await settled(h)) == 2


@pytest.mark.parametrize("model", ["deepseek/deepseek-chat", "openai/gpt-3.5-turbo"])
async def test_a_model_that_cant_see_refuses_an_image_naming_models_that_can(
    tmp_path: Path, fakes: Fakes, model: str
) -> None:
    openai = fakes[0]
    settings = env(fakes, model, deepseek_api_key="sk-deepseek-0123456789", deepseek_base_url=openai.url)
    async with harness(tmp_path, **settings) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", photo(300, 300)), reply)
        assert len(reply.lines) == 1 and not reply.answers
        assert f"{model} can't see images" in reply.last and "openai/gpt-4o-mini" in reply.last
        assert "claude" in reply.last
        assert openai.requests == [] and await settled(h) == []
        assert await h.core.services.conversations.history(f"t:{BOB}") == []


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"this is not an image at all", "not an image"),
        (photo(800, 600)[:400], "damaged"),
        (photo(64, 64, "BMP"), "JPEG, PNG, WebP or GIF"),
        (b"", "empty"),
    ],
)
async def test_a_bad_image_file_is_one_line_and_no_charge(
    tmp_path: Path, fakes: Fakes, data: bytes, why: str
) -> None:
    openai = fakes[0]
    async with harness(tmp_path, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("What is this?", data), reply)
        assert len(reply.lines) == 1 and why in reply.last and "Nothing was charged" in reply.last
        assert openai.requests == [] and await settled(h) == []
        assert await h.core.services.conversations.history(f"t:{BOB}") == []


async def test_more_images_than_max_images_is_one_line(tmp_path: Path, fakes: Fakes) -> None:
    openai = fakes[0]
    async with harness(tmp_path, max_images=2, **env(fakes)) as h:
        reply = RecordingReply()
        await h.core.handle(with_photos("Compare", *[photo(100, 100)] * 3), reply)
        assert reply.lines == ["Send at most 2 images in one message. Nothing was charged."]
        assert openai.requests == [] and await settled(h) == []


async def test_two_images_both_travel_and_are_both_billed(tmp_path: Path, fakes: Fakes) -> None:
    anthropic = fakes[1]
    async with harness(tmp_path, **env(fakes, MODELS["anthropic"])) as h:
        await h.core.handle(
            with_photos("Which is bigger?", photo(400, 300), photo(3000, 2000)), RecordingReply()
        )
        small, large = sent_images("anthropic", anthropic.requests[-1].body)
        assert image_size(small) == (400, 300)  # small enough: sent as it came
        assert max(image_size(large)) <= 1568  # scaled down first, as Anthropic would
        assert anthropic.billed_images[0].tokens == 160  # 400 x 300 / 750
        (charge,) = await settled(h)
        assert charge["input_tokens"] == 12 + sum(b.tokens for b in anthropic.billed_images)
