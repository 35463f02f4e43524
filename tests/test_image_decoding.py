"""Decoding with a longest-side bound, and the API's budget on pixels decoded at once."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from pipeline.api.uploads import PixelBudget, header_pixels
from pipeline.io.images import ImageRejected, decode_image


def _encoded(fmt: str, size: tuple[int, int] = (3000, 2000)) -> bytes:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_max_side_shrinks_keeping_the_aspect(fmt: str) -> None:
    data = _encoded(fmt)
    assert decode_image(data).size == (3000, 2000)
    small = decode_image(data, max_side=600)
    assert small.size == (600, 400) and small.mode == "RGB"
    assert header_pixels(data) == 3000 * 2000
    with pytest.raises(ImageRejected):
        decode_image(b"\xff\xd8\xff" + b"\x00" * 50, max_side=600)
    assert header_pixels(b"junk") == 1


def test_pixel_budget_lets_only_what_fits_decode_at_once() -> None:
    async def scenario() -> list[str]:
        budget = PixelBudget(100)
        events: list[str] = []

        async def job(name: str, pixels: int, hold_s: float) -> None:
            async with budget.hold(pixels):
                events.append(f"start {name}")
                await asyncio.sleep(hold_s)
                events.append(f"end {name}")

        await asyncio.gather(job("a", 70, 0.1), job("b", 60, 0.0), job("c", 500, 0.0))
        return events

    events = asyncio.run(scenario())
    # b (60) does not fit beside a (70): it starts only after a ends; c is capped to the whole budget.
    assert events.index("start b") > events.index("end a")
    assert events.count("start c") == 1 and events.index("start c") > events.index("end a")
