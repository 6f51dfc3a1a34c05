"""Images at the largest size the allowance can pay, for /ask and the gateway alike.

Every image goes at the size the model would look at anyway when the allowance pays for that; else each a
step smaller (`image_levels`: long edges 1024 to 384 px, OpenAI's low detail), the largest the ledger
grants a hold for; when not even the smallest fits, the ledger's refusal stands. Each step's images are
made before its reserve, so the hold always prices exactly what is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.ledger import CapReached
from bot.media.image_tokens import Family, Sizing
from bot.media.images import CheckedImage, image_levels
from bot.providers.base import ImagePart
from bot.refusals import CapReachedWithHistory

T = TypeVar("T")

# What `reserve` does with the images of one step: price them into a quote and ask the ledger for a hold.
Reserve = Callable[[tuple[ImagePart, ...]], Awaitable[T]]


async def largest_affordable(
    family: Family | None,
    images: Sequence[CheckedImage],
    reserve: Reserve[T],
    *,
    low: Sequence[bool] = (),
) -> tuple[T, bool]:
    """`reserve(parts)` with the images at full size, then a step smaller each time the ledger refuses
    (`CapReached`, or /ask's `CapReachedWithHistory`), the last step's refusal raised. Returns what
    `reserve` returned and whether the images went smaller than asked (so the asker can be told).

    `family` is how the model bills an image (None only without images: the caller refuses an image for a
    model that can't see first); `low` as `image_levels` takes it."""
    if not images:
        return await reserve(()), False
    if family is None:
        raise ValueError("images for a model that can't see them")
    levels = image_levels(family, images, low)
    try:
        for level, sizings in enumerate(levels):
            parts = await asyncio.to_thread(parts_at, images, sizings)  # Pillow's scaling is CPU work
            try:
                return await reserve(parts), level > 0
            except (CapReached, CapReachedWithHistory):
                if level == len(levels) - 1:
                    raise
    finally:
        # each image was decoded once, at its dearest size, and every level scaled from that copy: the
        # parts are made now, and the copies (megabytes each) need not outlive the answer
        for image in images:
            image.decoded.release()
    raise AssertionError("image_levels gives at least one level")


def parts_at(images: Sequence[CheckedImage], sizings: Sequence[Sizing]) -> tuple[ImagePart, ...]:
    """The images as sent at `sizings` (scaled down where a sizing is smaller than the image)."""
    return tuple(image.part(sizing) for image, sizing in zip(images, sizings, strict=True))
