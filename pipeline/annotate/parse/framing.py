"""How the parser networks see a picture: fitted, aspect kept, onto a zero canvas."""

from __future__ import annotations

import cv2
import numpy as np


def letterbox_box(
    arr: np.ndarray, size_hw: tuple[int, int], keep_aspect: bool = True, interpolation: int = cv2.INTER_LINEAR
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Fit ``arr`` (HxW or HxWxC) into ``size_hw`` = (height, width) on a zero canvas.

    Returns the canvas and the content box (x, y, w, h). The parsers' networks see their
    pictures this way at training and at inference, so both must share it; label maps go
    through with ``cv2.INTER_NEAREST`` (zero = background).
    """
    in_h, in_w = size_hw
    h, w = arr.shape[:2]
    if not keep_aspect:
        return cv2.resize(arr, (in_w, in_h), interpolation=interpolation), (0, 0, in_w, in_h)
    scale = min(in_w / w, in_h / h)
    nw, nh = max(1, min(in_w, round(w * scale))), max(1, min(in_h, round(h * scale)))
    canvas = np.zeros((in_h, in_w, *arr.shape[2:]), dtype=arr.dtype)
    x, y = (in_w - nw) // 2, (in_h - nh) // 2
    canvas[y : y + nh, x : x + nw] = cv2.resize(arr, (nw, nh), interpolation=interpolation).reshape(nh, nw, *arr.shape[2:])
    return canvas, (x, y, nw, nh)
