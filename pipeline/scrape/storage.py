"""Saving a kept image: original bytes when already clean, else the normalised picture as PNG."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.io.atomic import write_bytes

EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class StoredImage:
    """Where and how an image was saved."""

    name: str
    width: int
    height: int
    normalised: bool


def needs_normalising(data: bytes) -> bool:
    """True unless ``data`` is an 8-bit RGB JPEG/PNG that is already upright."""
    with Image.open(io.BytesIO(data)) as img:
        if img.format not in ("JPEG", "PNG") or img.mode != "RGB":
            return True
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
        return orientation not in (None, 1)


def store_image(data: bytes, decoded: Image.Image, sha256: str, images_dir: str | os.PathLike[str]) -> StoredImage:
    """Write the image under ``images_dir/<sha256[:16]>.<jpg|png>`` atomically."""
    images_dir = Path(images_dir)
    if needs_normalising(data):
        buf = io.BytesIO()
        decoded.save(buf, format="PNG")
        payload, ext, normalised = buf.getvalue(), "png", True
    else:
        payload = data
        ext = "jpg" if data.startswith(b"\xff\xd8\xff") else "png"
        normalised = False
    name = f"{sha256[:16]}.{ext}"
    write_bytes(images_dir / name, payload)
    return StoredImage(name=name, width=decoded.width, height=decoded.height, normalised=normalised)
