"""Is a picture one object on a plain background? (the look of an in-shop garment shot)

The border of a packshot is near-uniform; everything that differs from the border
colour is foreground, and a garment is one main connected blob of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.binary_mask import fill_holes
from pipeline.classify.config import GarmentRule


@dataclass(frozen=True)
class GarmentResult:
    """Outcome of the plain-background / single-object check, with its measurements."""

    is_garment: bool
    reason: str  # empty when is_garment
    border_uniformity: float
    background_rgb: tuple[int, int, int]
    foreground_fraction: float
    objects: int
    second_object_ratio: float
    mask: np.ndarray | None  # the main object's mask at analysis resolution (uint8 0/1)


def downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side`` (area filter; never enlarges)."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def border_pixels(rgb: np.ndarray, width: int) -> np.ndarray:
    """All pixels within ``width`` of the image edge, as an ``Nx3`` array."""
    return np.concatenate(
        [
            rgb[:width].reshape(-1, 3),
            rgb[-width:].reshape(-1, 3),
            rgb[width:-width, :width].reshape(-1, 3),
            rgb[width:-width, -width:].reshape(-1, 3),
        ]
    )


def border_colour(rgb: np.ndarray, width_fraction: float = 0.03) -> tuple[int, int, int]:
    """Median colour of the image border (the background colour of a studio shot)."""
    width = max(1, round(width_fraction * min(rgb.shape[:2])))
    med = np.median(border_pixels(rgb, width), axis=0)
    return (int(med[0]), int(med[1]), int(med[2]))


def analyse_garment(rgb: np.ndarray, rule: GarmentRule) -> GarmentResult:
    """Measure border uniformity and foreground blobs; decide garment or a reject reason."""
    small = downscale(rgb, rule.analysis_max_side)
    h, w = small.shape[:2]
    bw = max(1, round(rule.border_width * min(h, w)))
    border = border_pixels(small, bw).astype(np.int16)
    bg = np.median(border, axis=0).astype(np.int16)
    uniformity = float(np.mean(np.abs(border - bg).max(axis=1) <= rule.background_tolerance))
    bg_rgb = (int(bg[0]), int(bg[1]), int(bg[2]))
    if uniformity < rule.min_border_uniformity:
        return GarmentResult(False, "no_person_busy_background", uniformity, bg_rgb, 0.0, 0, 0.0, None)

    diff = np.abs(small.astype(np.int16) - bg).max(axis=2)
    colour_fg = (diff > rule.background_tolerance).astype(np.uint8)
    # Opening drops JPEG speckle. A white garment on white is found by its outline:
    # edges are added, then closing bridges seams and filling holes recovers the inside.
    colour_fg = cv2.morphologyEx(colour_fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), rule.edge_low, rule.edge_high)
    edges[:bw] = 0
    edges[-bw:] = 0
    edges[:, :bw] = 0
    edges[:, -bw:] = 0
    fg = colour_fg | (edges > 0).astype(np.uint8)
    k = max(3, (round(0.02 * max(h, w)) // 2) * 2 + 1)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    fg = fill_holes(fg)

    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.int64)
    order = np.argsort(-areas)
    min_area = rule.min_component_fraction * h * w
    big = [int(i) for i in order if areas[i] >= min_area]
    total = float(h * w)
    if not big:
        return GarmentResult(False, "no_object", uniformity, bg_rgb, 0.0, 0, 0.0, None)
    largest = float(areas[big[0]])
    fraction = largest / total
    second = float(areas[big[1]]) / largest if len(big) > 1 else 0.0
    # The shape is measured on the unclosed colour mask, so the gap between two trouser
    # legs survives; edges and closing only serve to hold the object together.
    main = labels == big[0] + 1
    mask = ((colour_fg > 0) & main).astype(np.uint8)
    if mask.sum() < 0.5 * main.sum():
        mask = main.astype(np.uint8)
    if fraction < rule.min_foreground_fraction:
        reason = "object_too_small"
    elif fraction > rule.max_foreground_fraction:
        reason = "object_fills_frame"
    elif second > rule.max_second_component_ratio:
        reason = "several_objects"
    else:
        reason = ""
    return GarmentResult(not reason, reason, uniformity, bg_rgb, fraction, len(big), second, mask if not reason else None)
