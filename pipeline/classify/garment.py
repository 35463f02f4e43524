"""Is a picture one object on a plain background? (the look of an in-shop garment shot)

The pipeline's cloth-mask segmentation decides: a packshot is one main object on a smooth
backdrop, which is exactly what that step can cut out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.annotate.cloth_mask import ClothMaskError, cloth_mask
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


# The cloth mask's refusals, in the classify stage's own reason names.
_REASONS = {
    "no_plain_background": "no_person_busy_background",
    "empty_mask": "no_object",
    "main_component_too_small": "object_too_small",
    "several_objects": "several_objects",
}


def analyse_garment(rgb: np.ndarray, rule: GarmentRule) -> GarmentResult:
    """One garment on a plain backdrop? Decided by the cloth-mask segmentation, on a small copy.

    The same background model as the garment masks the pipeline writes
    (:func:`pipeline.annotate.cloth_mask.cloth_mask`: a smooth CIELAB backdrop field,
    hysteresis for white on white), so what classify calls a garment shot is what the mask
    step can cut out. ``border_uniformity`` is reported as a score only.
    """
    small = downscale(rgb, rule.analysis_max_side)
    h, w = small.shape[:2]
    bw = max(1, round(rule.border_width * min(h, w)))
    border = border_pixels(small, bw).astype(np.int16)
    bg = np.median(border, axis=0).astype(np.int16)
    uniformity = float(np.mean(np.abs(border - bg).max(axis=1) <= rule.background_tolerance))
    bg_rgb = (int(bg[0]), int(bg[1]), int(bg[2]))
    try:
        mask = (cloth_mask(small, rule.cloth_mask) > 0).astype(np.uint8)
    except ClothMaskError as exc:
        return GarmentResult(False, _REASONS.get(exc.reason, exc.reason), uniformity, bg_rgb, 0.0,
                             exc.objects, exc.second_ratio, None)
    fraction = float(mask.mean())
    if fraction < rule.min_foreground_fraction:
        reason = "object_too_small"
    elif fraction > rule.max_foreground_fraction:
        reason = "object_fills_frame"
    else:
        reason = ""
    return GarmentResult(not reason, reason, uniformity, bg_rgb, fraction, 1, 0.0, mask if not reason else None)
