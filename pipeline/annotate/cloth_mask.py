"""Foreground mask of an in-shop garment photographed on a plain background.

The background colour is read from the image border, pixels far enough from it
(in CIELAB, so the threshold means the same on light and dark backdrops) are
garment, and morphology closes seams, removes speckle and fills holes such as
white prints on a white shirt. The result must be one main object: a garment
shot that shows two pieces, or nothing, is refused with a reason so the stage
can count it instead of writing a wrong mask.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np


class ClothMaskError(ValueError):
    """No trustworthy garment mask; ``reason`` is a metrics slug."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ClothMaskConfig:
    """Thresholds, as fractions of the image where they depend on its size."""

    border_fraction: float = 0.02
    min_distance: float = 2.0
    noise_factor: float = 4.0
    strong_factor: float = 3.0
    trim_fraction: float = 0.0025
    max_border_spread: float = 18.0
    close_fraction: float = 0.012
    open_fraction: float = 0.004
    min_area_fraction: float = 0.03
    second_object_ratio: float = 0.15

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ClothMaskConfig":
        """Build from a params block, rejecting unknown keys."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown cloth-mask option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def cloth_mask(rgb: np.ndarray, config: ClothMaskConfig = ClothMaskConfig()) -> np.ndarray:
    """Return the HxW uint8 mask (0 background, 255 garment) of the single garment in ``rgb``.

    Raises :class:`ClothMaskError` when the border is not a plain background,
    when nothing large enough stands out, or when there are several large objects.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    side = min(height, width)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)

    band = max(2, int(round(side * config.border_fraction)))
    border = np.concatenate(
        [lab[:band].reshape(-1, 3), lab[-band:].reshape(-1, 3), lab[:, :band].reshape(-1, 3), lab[:, -band:].reshape(-1, 3)]
    )
    background = np.median(border, axis=0)
    border_dist = np.linalg.norm(border - background, axis=1)
    # A garment may touch the border (long sleeves), so judge plainness on most of it, not all.
    spread = float(np.percentile(border_dist, 75))
    if spread > config.max_border_spread:
        raise ClothMaskError("no_plain_background", f"border colour spread {spread:.1f} > {config.max_border_spread}")

    diff = lab - background.astype(np.float32)
    # Same Euclidean distance as np.linalg.norm(axis=2), without its temporaries.
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    # Noise is measured on the background part of the border only: garments may touch it.
    quiet = border_dist[border_dist < config.max_border_spread]
    noise = float(np.percentile(quiet, 90)) if quiet.size else 0.0
    threshold = max(config.min_distance, config.noise_factor * noise)
    close_k = _odd(side * config.close_fraction)
    open_k = _odd(side * config.open_fraction)
    # Hysteresis: faint pixels (a white shirt on a white sweep) count when, once
    # closed into regions, they touch clearly different ones (its print, seams, folds).
    weak = (dist > threshold).astype(np.uint8)
    weak = cv2.morphologyEx(weak, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_k, close_k)))
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[labels[dist > threshold * config.strong_factor]] = True
    keep[0] = False
    fg = keep[labels].astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (open_k, open_k)))

    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        raise ClothMaskError("empty_mask", "nothing differs from the background")
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    main_area = int(areas[order[0]])
    if main_area < config.min_area_fraction * height * width:
        raise ClothMaskError("main_component_too_small", f"{main_area / (height * width):.3f} of the image")
    if len(order) > 1 and areas[order[1]] > config.second_object_ratio * main_area:
        raise ClothMaskError(
            "several_objects", f"second object is {areas[order[1]] / main_area:.2f} of the largest"
        )
    mask = _fill_holes((labels == order[0] + 1).astype(np.uint8))
    # The faint threshold also takes the anti-aliased fringe; trim it back.
    trim = int(round(side * config.trim_fraction))
    if trim > 0:
        inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * trim + 1, 2 * trim + 1)))
        # Only faint edge pixels go: a clearly coloured edge is garment, and keeping it
        # keeps thin parts (straps, sleeve joins) attached.
        faint_edge = (mask > inner) & (dist <= threshold * config.strong_factor)
        mask = _drop_splinters(np.where(faint_edge, 0, mask).astype(np.uint8))
    return mask * 255


def _drop_splinters(mask: np.ndarray, keep_ratio: float = 0.02) -> np.ndarray:
    """Drop the fringe crumbs trimming leaves; parts of the garment it detached stay."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], areas >= keep_ratio * areas.max()])
    return keep[labels].astype(np.uint8)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill every background region not connected to the image border."""
    padded = np.pad(mask, 1, constant_values=0)
    flood = padded.copy()
    ff_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 1)
    holes = flood == 0
    padded[holes] = 1
    return padded[1:-1, 1:-1]


def _odd(size: float) -> int:
    k = max(1, int(round(size)))
    return k if k % 2 else k + 1
