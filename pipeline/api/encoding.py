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


def encode_result_bytes(result: TryOnResult, output_format: str, quality: int, return_mask: bool) -> dict[str, Any]:
    """``{image, mask_png, metadata}``: the encoded picture and mask as bytes (batch results go to files)."""
    data = encode_image(result.image, output_format, quality)
    mask = encode_image(result.mask.convert("L"), "png", 100) if return_mask else None
    width, height = result.image.size
    metadata = {**result.metadata, "timings": dict(result.timings), "output_format": output_format,
                "width": width, "height": height}
    if output_format == "jpeg":
        metadata["quality"] = quality
    return {"image": data, "mask_png": mask, "metadata": metadata}


def encode_result(result: TryOnResult, output_format: str, quality: int, return_mask: bool) -> dict[str, Any]:
    """``{result, mask, metadata}`` for a response: base64 strings and JSON-safe metadata."""
    raw = encode_result_bytes(result, output_format, quality, return_mask)
    mask = base64.b64encode(raw["mask_png"]).decode("ascii") if raw["mask_png"] is not None else None
    return {"result": base64.b64encode(raw["image"]).decode("ascii"), "mask": mask, "metadata": raw["metadata"]}
