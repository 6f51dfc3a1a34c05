"""Checking and sizing image files with Pillow: the real format counts, not the declared one; a scaled
image keeps its transparency (PNG) or becomes a JPEG; a GIF goes as its first frame."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.media.images import BadImage, check_image
from bot.media.vision import family_for
from tests.media.photos import image_size, photo


def _encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def test_a_large_transparent_png_is_scaled_and_stays_a_png() -> None:
    data = _encoded(Image.new("RGBA", (3000, 1000), (255, 0, 0, 128)), "PNG")
    checked = check_image(data)
    family = family_for("anthropic/claude-haiku-4-5")
    assert family is not None and checked.mime == "image/png"
    part = checked.part(checked.ways(family)[0])
    assert part.mime == "image/png" and max(image_size(part.data)) == 1568
    with Image.open(io.BytesIO(part.data)) as sent:
        assert sent.mode == "RGBA"
    assert part.tokens == family.count(*image_size(part.data))


def test_an_image_already_small_enough_goes_as_it_came() -> None:
    data = photo(800, 600)
    checked = check_image(data)
    family = family_for("openai/gpt-4o-mini")
    assert family is not None
    part = checked.part(checked.ways(family)[0])
    assert part.data == data and part.mime == "image/jpeg" and part.detail == "high"


def test_an_animated_gif_goes_as_its_first_frame() -> None:
    frames = [Image.new("RGB", (200, 100), color) for color in ("red", "blue")]
    data = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    checked = check_image(data)
    family = family_for("google/gemini-2.0-flash")
    assert family is not None and checked.mime == "image/gif"
    part = checked.part(checked.ways(family)[0])
    assert part.mime == "image/jpeg" and image_size(part.data) == (200, 100)


def test_the_bytes_decide_the_format_not_the_name() -> None:
    assert check_image(_encoded(Image.new("RGB", (10, 10)), "WEBP")).mime == "image/webp"
    with pytest.raises(BadImage, match="TIFF images can't be sent"):
        check_image(_encoded(Image.new("RGB", (10, 10)), "TIFF"))
