"""Turn uploaded bytes into a picture, trusting only the bytes (never the file name or content type)."""

from __future__ import annotations

from fastapi import UploadFile
from PIL import Image
from starlette.concurrency import run_in_threadpool

from pipeline.api.errors import ApiError
from pipeline.io.images import ImageLimits, ImageRejected, decode_image, sniff_format

# Multipart framing and the small options field on top of two files.
FORM_OVERHEAD = 256 * 1024


def decode_upload(data: bytes, field: str, limits: ImageLimits, max_bytes: int) -> Image.Image:
    """Check and decode one uploaded (or downloaded) file; raises :class:`ApiError` with the right status."""
    if len(data) > max_bytes:
        raise ApiError(413, "upload_too_large", f"{field} is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise ApiError(422, "empty_file", f"{field} is empty")
    if sniff_format(data) is None:
        raise ApiError(415, "unsupported_media_type", f"{field} is not a JPEG, PNG, WebP, GIF, BMP or TIFF image")
    try:
        return decode_image(data, limits)
    except ImageRejected as exc:
        if exc.reason == "too_large":
            raise ApiError(413, "image_too_large", f"{field} is {exc.detail} pixels; the limits are "
                           f"{limits.max_pixels} pixels and {limits.max_side} per side") from exc
        if exc.reason == "too_small":
            raise ApiError(422, "image_too_small", f"{field} is {exc.detail}") from exc
        raise ApiError(422, "undecodable_image", f"{field} could not be decoded ({exc.reason}: {exc.detail})") from exc


async def read_upload(upload: UploadFile, field: str, limits: ImageLimits, max_bytes: int) -> Image.Image:
    """Read an uploaded file (at most ``max_bytes``) and decode it off the event loop."""
    if upload.size is not None and upload.size > max_bytes:
        raise ApiError(413, "upload_too_large", f"{field} is {upload.size} bytes; the limit is {max_bytes}")
    data = await upload.read(max_bytes + 1)
    return await run_in_threadpool(decode_upload, data, field, limits, max_bytes)
