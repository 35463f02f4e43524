"""Turn uploaded bytes into a picture, trusting only the bytes (never the file name or content type)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import UploadFile
from PIL import Image
from starlette.concurrency import run_in_threadpool

from pipeline.api.errors import ApiError
from pipeline.io.images import ImageLimits, ImageRejected, decode_image, sniff_format

# Multipart framing and the small options field on top of two files.
FORM_OVERHEAD = 256 * 1024


def decode_upload(data: bytes, field: str, limits: ImageLimits, max_bytes: int, max_side: int = 0) -> Image.Image:
    """Check and decode one uploaded (or downloaded) file, shrunk to ``max_side`` (0: its own size);
    raises :class:`ApiError` with the right status."""
    if len(data) > max_bytes:
        raise ApiError(413, "upload_too_large", f"{field} is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise ApiError(422, "empty_file", f"{field} is empty")
    if sniff_format(data) is None:
        raise ApiError(415, "unsupported_media_type", f"{field} is not a JPEG, PNG, WebP, GIF, BMP or TIFF image")
    try:
        return decode_image(data, limits, max_side)
    except ImageRejected as exc:
        if exc.reason == "too_large":
            raise ApiError(413, "image_too_large", f"{field} is {exc.detail} pixels; the limits are "
                           f"{limits.max_pixels} pixels and {limits.max_side} per side") from exc
        if exc.reason == "too_small":
            raise ApiError(422, "image_too_small", f"{field} is {exc.detail}") from exc
        raise ApiError(422, "undecodable_image", f"{field} could not be decoded ({exc.reason}: {exc.detail})") from exc


def header_pixels(data: bytes) -> int:
    """Width x height from the image header (nothing decoded); 1 when the header cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return max(1, img.size[0] * img.size[1])
    except Exception:  # noqa: BLE001 - decode_upload says what is wrong with the file
        return 1


class PixelBudget:
    """At most ``capacity`` pixels being decoded at once across all requests; the others wait their turn."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._cond = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Wait until ``pixels`` fit in the budget, hold them for the block."""
        pixels = min(pixels, self.capacity)
        async with self._cond:
            await self._cond.wait_for(lambda: self._used + pixels <= self.capacity)
            self._used += pixels
        try:
            yield
        finally:
            async with self._cond:
                self._used -= pixels
                self._cond.notify_all()


async def read_upload(upload: UploadFile, field: str, limits: ImageLimits, max_bytes: int,
                      budget: PixelBudget | None = None, max_side: int = 0) -> Image.Image:
    """Read an uploaded file (at most ``max_bytes``) and decode it off the event loop, within ``budget``."""
    if upload.size is not None and upload.size > max_bytes:
        raise ApiError(413, "upload_too_large", f"{field} is {upload.size} bytes; the limit is {max_bytes}")
    data = await upload.read(max_bytes + 1)
    if budget is None:
        return await run_in_threadpool(decode_upload, data, field, limits, max_bytes, max_side)
    async with budget.hold(header_pixels(data)):
        return await run_in_threadpool(decode_upload, data, field, limits, max_bytes, max_side)
