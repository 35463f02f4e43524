"""Fit a picture into the dataset resolution without stretching: scale, then pad."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.augment.config import PadColour


def border_colour(rgb: np.ndarray, width_fraction: float = 0.02) -> tuple[int, int, int]:
    """Median colour of the image's outer rim (the studio background, usually)."""
    h, w = rgb.shape[:2]
    b = max(1, round(width_fraction * min(h, w)))
    rim = np.concatenate(
        [rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3), rgb[:, :b].reshape(-1, 3), rgb[:, -b:].reshape(-1, 3)]
    )
    med = np.median(rim, axis=0)
    return (int(med[0]), int(med[1]), int(med[2]))


def pad_rgb(rgb: np.ndarray, pad: PadColour) -> tuple[int, int, int]:
    """Resolve a pad setting ("border", "white" or RGB) for one image."""
    if pad == "border":
        return border_colour(rgb)
    if pad == "white":
        return (255, 255, 255)
    return tuple(pad)  # type: ignore[return-value]


def letterbox(rgb: np.ndarray, size: tuple[int, int], pad: PadColour) -> np.ndarray:
    """Scale ``rgb`` to fit ``size`` = (width, height) keeping its aspect, centre it, pad the rest."""
    width, height = size
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb
    fill = pad_rgb(rgb, pad)
    scale = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (nw, nh), interpolation=interp)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = fill
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out
