"""CPU per photo: checking and preparing large phone photos as /ask and the gateway do, without the network.

    python -m bench.images [--photos 4] [--repeat 5] [--model openai/gpt-4o ...]

`--photos` noisy 4032x3024 JPEGs (about 4.4 MB each at quality 85, like a phone's; every other one with
the EXIF orientation of a phone held upright, 6) are made once; then, `--repeat` times for each model:
- check: `check_image` on each, as `check_attachments` does before anything is paid (given the model's
  family where `check_image` takes one, so the same script measures the code before that change too);
- full size: `largest_affordable` with a ledger that grants the first hold (the images at the size the
  model looks at);
- short allowance: a ledger that refuses every step but the last, so every smaller size is made too.
Figures are the process's CPU time (every thread) and wall time per request of `--photos` photos: median
and range over the repeats. The machine is shared: repeat, and compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import io
import random
import statistics
import time
from collections.abc import Callable

from PIL import ExifTags, Image

from bot.ledger import CapReached
from bot.media.fitting import largest_affordable
from bot.media.images import CheckedImage, check_image, image_levels
from bot.media.vision import family_for
from bot.providers.base import ImagePart

MODELS = ("openai/gpt-4o", "anthropic/claude-sonnet-4-5", "google/gemini-2.0-flash")
WIDTH, HEIGHT = 4032, 3024


def phone_photo(seed: int, orientation: int) -> bytes:
    """A 4032x3024 JPEG that compresses like a photo (gradients and grain, so about 4.4 MB)."""
    random.seed(seed)
    grain = Image.effect_noise((WIDTH // 2, HEIGHT // 2), 40).resize(
        (WIDTH, HEIGHT), Image.Resampling.BILINEAR
    )
    sky = Image.linear_gradient("L").rotate(random.choice((0, 90, 180, 270))).resize((WIDTH, HEIGHT))
    channels = (Image.blend(grain, sky, 0.5), Image.effect_noise((WIDTH, HEIGHT), 20), sky)
    exif = Image.Exif()
    if orientation != 1:
        exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of the whole process, wall seconds) that `work` took."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def prepare(model: str, images: list[CheckedImage], short: bool) -> None:
    """The images through `largest_affordable`, granted at full size or (`short`) only at the last step."""
    family = family_for(model)
    assert family is not None
    refusals = len(image_levels(family, images)) - 1 if short else 0

    async def reserve(parts: tuple[ImagePart, ...]) -> int:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise CapReached(0, None, "user")
        return len(parts)

    asyncio.run(largest_affordable(family, images, reserve))


def checked_all(model: str, photos: list[bytes]) -> list[CheckedImage]:
    """The photos checked for `model` (given its family where `check_image` takes one: not before it)."""
    if "family" in inspect.signature(check_image).parameters:
        return [check_image(photo, family_for(model)) for photo in photos]
    return [check_image(photo) for photo in photos]


def one_request(model: str, photos: list[bytes]) -> tuple[float, float, float, float]:
    """CPU seconds of the check, of the full-size preparation and of the short allowance's, and the wall
    seconds of the check and the full-size preparation together."""
    checked: list[CheckedImage] = []
    check_cpu, check_wall = timed(lambda: checked.extend(checked_all(model, photos)))
    full_cpu, full_wall = timed(lambda: prepare(model, checked, short=False))
    again = checked_all(model, photos)  # untimed: the short allowance's own request
    short_cpu, _ = timed(lambda: prepare(model, again, short=True))
    return check_cpu, full_cpu, short_cpu, check_wall + full_wall


def span(samples: list[float], photos: int) -> str:
    """Median (range) of `samples` (seconds per request of `photos`), in ms per photo."""
    per = [s * 1000 / photos for s in samples]
    return f"{statistics.median(per):.0f} ({min(per):.0f}–{max(per):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", action="append", help=f"provider/model (repeatable; default {MODELS})")
    args = parser.parse_args()
    photos = [phone_photo(seed, 6 if seed % 2 else 1) for seed in range(args.photos)]
    mb = statistics.mean(len(p) for p in photos) / 1e6
    print(f"{args.photos} photos of {WIDTH}x{HEIGHT}, {mb:.1f} MB each; CPU per photo, ms: median (range)")
    print("| model | check | full size | short allowance | check + full size, wall per request (ms) |")
    print("|---|---|---|---|---|")
    for model in args.model or MODELS:
        if family_for(model) is None:
            raise SystemExit(f"{model} does not see images")
        runs = [one_request(model, photos) for _ in range(args.repeat)]
        check, full, short, wall = (list(column) for column in zip(*runs, strict=True))
        wall_ms = [w * 1000 for w in wall]
        print(
            f"| {model} | {span(check, args.photos)} | {span(full, args.photos)} | {span(short, args.photos)}"
            f" | {statistics.median(wall_ms):.0f} ({min(wall_ms):.0f}–{max(wall_ms):.0f}) |"
        )


if __name__ == "__main__":
    main()
