"""Encode an engine result for a JSON answer (base64 image, optional mask, metadata)."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from pipeline.infer.types import TryOnResult
from pipeline.io.images import encode_jpeg


def encode_image(img: Image.Image, output_format: str, quality: int) -> bytes:
    """JPEG (baseline, no metadata) or PNG bytes of ``img``."""
    if output_format == "jpeg":
        return encode_jpeg(img, quality=quality)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def encode_result(result: TryOnResult, output_format: str, quality: int, return_mask: bool) -> dict[str, Any]:
    """``{result, mask, metadata}`` for a response: base64 strings and JSON-safe metadata."""
    data = encode_image(result.image, output_format, quality)
    mask = base64.b64encode(encode_image(result.mask.convert("L"), "png", 100)).decode("ascii") if return_mask else None
    width, height = result.image.size
    metadata = {**result.metadata, "timings": dict(result.timings), "output_format": output_format,
                "width": width, "height": height}
    if output_format == "jpeg":
        metadata["quality"] = quality
    return {"result": base64.b64encode(data).decode("ascii"), "mask": mask, "metadata": metadata}
