"""Operations on 0/1 masks shared by the garment checks (classify, cloth mask, demo shop)."""

from __future__ import annotations

import cv2
import numpy as np


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (HxW, 0/1) with every background region that does not reach the border filled, as uint8.

    One flood fill from a one-pixel frame around the mask (4-connected, OpenCV's
    default); scipy's ``binary_fill_holes`` gives the same result by repeated
    dilation, which is far slower on 1024x768 masks.
    """
    padded = np.pad((np.asarray(mask) > 0).astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    return (padded | (flood == 0))[1:-1, 1:-1].astype(np.uint8)
