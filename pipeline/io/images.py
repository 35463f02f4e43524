"""Decode and normalise images from anywhere (a crawl, a user upload, a folder).

Every odd image the wild web serves is either turned into a plain 8-bit RGB
picture in its upright orientation, or rejected with a short machine-readable
reason that stages count in their metrics.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pipeline.skip import SkipItem

# Decompression bombs are handled by our own pixel limit, with a clear reason.
Image.MAX_IMAGE_PIXELS = None


class ImageRejected(SkipItem):
    """An image that cannot be used; ``reason`` is a short slug for metrics."""


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on what counts as a usable image."""

    min_side: int = 32
    max_pixels: int = 40_000_000
    max_side: int = 12_000


def sniff_format(data: bytes) -> str | None:
    """Return the image format named by the leading bytes, or None if it is not an image."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def decode_image(data: bytes, limits: ImageLimits = ImageLimits(), max_side: int = 0) -> Image.Image:
    """Decode bytes into an upright 8-bit RGB image or raise :class:`ImageRejected`.

    ``max_side`` > 0 shrinks the result to that longest side; a JPEG is then decoded at a
    reduced scale from the start (libjpeg's DCT scaling), so its full size never sits in memory.

    Handles EXIF orientation, CMYK, palette, 16-bit, grayscale and alpha
    (composited on white, the usual catalogue background). Truncated files are
    rejected rather than padded with grey, since a half-grey photo is a silently
    wrong training sample.
    """
    if not data:
        raise ImageRejected("empty_file")
    if sniff_format(data) is None:
        raise ImageRejected("not_an_image", "content does not start with a known image signature")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            _check_size(width, height, limits)
            if max_side and max(width, height) > max_side and img.format == "JPEG":
                scale = max_side / max(width, height)
                img.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
            img.load()
    except ImageRejected:
        raise
    except OSError as exc:
        reason = "truncated_image" if "truncated" in str(exc).lower() else "undecodable_image"
        raise ImageRejected(reason, str(exc)) from exc
    except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected("undecodable_image", str(exc)) from exc
    img = normalise(img, limits)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def normalise(img: Image.Image, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Return ``img`` upright, as 8-bit RGB, alpha flattened on white."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the picture
        pass
    _check_size(img.width, img.height, limits)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        img = canvas
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if min(width, height) < limits.min_side:
        raise ImageRejected("too_small", f"{width}x{height} < {limits.min_side}px side")
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise ImageRejected("too_large", f"{width}x{height}")


# Suffixes a folder of pictures is listed by (vton tryon --persons, vton classify).
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_pictures(folder: Path, recursive: bool = False) -> list[Path]:
    """Files of ``folder`` with a picture suffix, sorted (sub-folders too when ``recursive``)."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())


def load_image(path: str | os.PathLike[str], limits: ImageLimits = ImageLimits()) -> Image.Image:
    """Read and normalise an image file (see :func:`decode_image`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageRejected("unreadable_file", str(exc)) from exc
    return decode_image(data, limits)


def to_rgb_array(img: Image.Image) -> np.ndarray:
    """Return an ``HxWx3`` uint8 array (RGB order)."""
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def encode_jpeg(img: Image.Image, quality: int = 95) -> bytes:
    """Encode as baseline JPEG without metadata (deterministic bytes for a given image)."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()
