"""What the per-image annotation jobs share: the image items, reading a picture, writing a file.

The jobs (:mod:`pipeline.annotate.parse_job`, :mod:`pipeline.annotate.pose_job`,
:mod:`pipeline.annotate.agnostic_job`) run under :mod:`pipeline.annotate.parallel`.
Each reads one image from the augment stage's layout, runs its model and writes
its VITON-HD file(s) under the stage's output root. Every way an image can be
unusable ends in a counted skip with a reason; facts worth knowing that do not
stop the image (grey-scale input, a back view, keypoints that had to be
estimated) are returned as flags and counted in the stage metrics.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from pipeline.annotate.parallel import ItemResult
from pipeline.dataset.layout import IMAGE
from pipeline.io.images import ImageLimits, load_image, to_rgb_array

# Smaller pictures carry too little of a person for parsing or pose.
IMAGE_LIMITS = ImageLimits(min_side=64)


@dataclass(frozen=True)
class ImageItem:
    """One image of a split: ``data/augment/<split>/<folder>/<stem>.jpg``."""

    split: str
    stem: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.split}/{self.stem}"


def list_images(root: str | Path, splits: tuple[str, ...], folder: str = IMAGE) -> list[ImageItem]:
    """Every ``.jpg``/``.png`` of ``root/<split>/<folder>``, sorted (missing folders give nothing)."""
    items = []
    for split in splits:
        d = Path(root) / split / folder
        if d.is_dir():
            items.extend(
                ImageItem(split, p.stem, p) for p in sorted(d.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
    return items


def load_rgb(item: ImageItem) -> tuple[np.ndarray, tuple[str, ...]]:
    """The picture as RGB and a ``grayscale_input`` flag when its three channels are equal."""
    rgb = to_rgb_array(load_image(item.path, IMAGE_LIMITS))
    return rgb, (("grayscale_input",) if _is_grey(rgb) else ())


def _is_grey(rgb: np.ndarray) -> bool:
    # A sparse look rules out nearly every colour photo before the full comparison.
    sample = rgb[::16, ::16]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


# zlib level of the PNGs written here (label maps, masks, skeleton drawings): these
# flat pictures compress nearly as well at level 1, in a third of the time of the default 6.
PNG_COMPRESS_LEVEL = 1


def png_bytes(img: Image.Image) -> bytes:
    """``img`` as PNG bytes at the fast compression level above."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def write_file(path: Path, data: bytes) -> None:
    """Write one output file: under a temporary name, then renamed into place.

    The stages hand these jobs the temporary folder of an ``atomic_dir``, which
    replaces the stage output only once every image is done, so the per-file
    ``fsync`` of :func:`pipeline.io.atomic.write_bytes` would only make each image
    wait for the disk (several files per image, tens of ms each on a busy disk).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Closing:
    """A per-item function that also releases its model when the in-process run ends."""

    def __init__(self, fn: Callable[[ImageItem], ItemResult], resource: Any) -> None:
        self._fn = fn
        self._resource = resource

    def __call__(self, item: ImageItem) -> ItemResult:
        return self._fn(item)

    def close(self) -> None:
        close = getattr(self._resource, "close", None)
        if callable(close):
            close()
