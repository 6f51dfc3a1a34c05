"""Checking and sizing image files with Pillow: the real format counts, not the declared one; a scaled
image keeps its transparency (PNG) or becomes a JPEG; a GIF goes as its first frame."""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image, ImageFile

from bot.media import images
from bot.media.image_tokens import Family
from bot.media.images import BadImage, check_image
from bot.media.vision import family_for
from tests.media.photos import image_size, phone_photo, photo


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


def test_a_phone_jpeg_with_a_gain_map_goes_as_its_first_image_re_encoded() -> None:
    """Many phones save MPO: a JPEG with further images after it (an HDR gain map, a depth map). It is a
    JPEG to every viewer, so it is taken; only its first image is sent, never the whole file."""
    main, gain_map = Image.new("RGB", (640, 480), "red"), Image.new("RGB", (320, 240), "blue")
    data = _encoded(main, "MPO", save_all=True, append_images=[gain_map])
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "MPO"
    checked = check_image(data)
    family = family_for("openai/gpt-4o-mini")
    assert (
        family is not None and checked.mime == "image/jpeg" and (checked.width, checked.height) == (640, 480)
    )
    part = checked.part(checked.ways(family)[0])
    assert part.data != data and part.mime == "image/jpeg" and image_size(part.data) == (640, 480)
    with Image.open(io.BytesIO(part.data)) as sent:
        assert sent.format == "JPEG" and _colour(sent, 0.5, 0.5) == "red"
    assert part.tokens == family.count(640, 480)


def test_the_bytes_decide_the_format_not_the_name() -> None:
    assert check_image(_encoded(Image.new("RGB", (10, 10)), "WEBP")).mime == "image/webp"
    with pytest.raises(BadImage, match="TIFF images can't be sent"):
        check_image(_encoded(Image.new("RGB", (10, 10)), "TIFF"))


def _colour(image: Image.Image, x: float, y: float) -> str:
    """Which of the test photo's two colours is at that fraction of the width and height."""
    r, _, b = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    return "red" if r > b else "blue"


def test_a_large_jpeg_is_decoded_once_at_a_reduced_scale_and_every_size_is_exact() -> None:
    """A 4032x3024 phone photo for gpt-4o-mini (fitted to 1024x768): decoded at 1/2 scale (the smallest
    DCT scale still at least 1024x768), that one decode serves every smaller size too, and each image sent
    is exactly the size its tokens were counted for."""
    family = family_for("openai/gpt-4o-mini")
    assert family is not None
    decodes: list[tuple[int, int]] = []
    decode = images._decode

    def counted(image: ImageFile.ImageFile, orientation: int, size: tuple[int, int]) -> Image.Image:
        decoded = decode(image, orientation, size)
        decodes.append(decoded.size)
        return decoded

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images, "_decode", counted)
        checked = check_image(phone_photo(4032, 3024), family)
        ways = checked.ways(family)
        parts = [checked.part(way) for way in ways]
    assert decodes == [(2016, 1512)]
    assert (ways[0].width, ways[0].height) == (1024, 768) and len(ways) > 2
    for way, part in zip(ways, parts, strict=True):
        assert image_size(part.data) == (way.width, way.height)
        assert part.tokens == family.count(*image_size(part.data), way.detail)


def test_a_decode_too_small_for_another_model_is_done_again_larger() -> None:
    """Checked for a model that looks at 512 px (decoded at 1/4), then sent to Claude (1568 px): decoded
    again at 1/2, never scaled up from the smaller copy."""
    small, claude = Family("flat", tokens=100, long_edge=512), family_for("anthropic/claude-haiku-4-5")
    assert claude is not None
    checked = check_image(phone_photo(4032, 3024), small)
    assert checked.decoded.image is not None and checked.decoded.image.size[0] < 2016
    way = checked.ways(claude)[0]
    part = checked.part(way)
    assert image_size(part.data) == (way.width, way.height) and way.width > 1008


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_phone_photo_arrives_upright_and_is_priced_upright(orientation: int) -> None:
    """The stored top half is red: held turned a quarter clockwise (6) the red is on the right of the
    picture, anticlockwise (8) on the left, upside down (3) at the bottom; the sizes are the picture's."""
    family = family_for("anthropic/claude-haiku-4-5")
    assert family is not None
    checked = check_image(phone_photo(4032, 3024, orientation), family)
    turned = orientation in (6, 8)
    assert (checked.width, checked.height) == ((3024, 4032) if turned else (4032, 3024))
    way = checked.ways(family)[0]
    part = checked.part(way)
    with Image.open(io.BytesIO(part.data)) as sent:
        assert sent.size == (way.width, way.height) and sent.getexif().get(ExifTags.Base.Orientation) is None
        assert (sent.height > sent.width) == turned
        red = {6: (0.9, 0.5), 8: (0.1, 0.5), 3: (0.5, 0.9)}[orientation]
        assert _colour(sent, *red) == "red" and _colour(sent, 1 - red[0], 1 - red[1]) == "blue"
    assert part.tokens == family.count(way.width, way.height)


def test_a_turned_photo_small_enough_is_still_sent_turned_not_as_it_came() -> None:
    """Its own size would fit, but the bytes as stored are sideways: re-encoded upright, never left to a
    provider to honour (or not) the EXIF tag."""
    data = phone_photo(600, 400, 6)
    checked = check_image(data)
    family = family_for("openai/gpt-4o-mini")
    assert family is not None
    part = checked.part(checked.ways(family)[0])
    assert part.data != data and image_size(part.data) == (400, 600)


@pytest.mark.parametrize("kept", [0.5, 0.99])
@pytest.mark.parametrize("model", [None, "openai/gpt-4o-mini"])
def test_a_truncated_large_jpeg_is_refused_whatever_scale_it_is_decoded_at(
    kept: float, model: str | None
) -> None:
    data = phone_photo(4032, 3024)
    with pytest.raises(BadImage, match="damaged"):
        check_image(data[: int(len(data) * kept)], family_for(model) if model else None)
