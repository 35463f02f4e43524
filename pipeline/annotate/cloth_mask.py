"""Foreground mask of an in-shop garment photographed on a plain background.

The background is read from the image border as a smooth field (a low-order
2-D polynomial per CIELAB channel, fitted robustly so a sleeve touching the
border does not bend it), which follows studio vignettes, spotlights and sweep
gradients that a single colour cannot: a white shirt on a vignetted white
backdrop is darker than the bright centre and lighter than the corners at once.
Pixels far enough from that field (in CIELAB, so the threshold means the same on
light and dark backdrops) are garment, and morphology closes seams, removes
speckle and fills holes such as white prints on a white shirt. On such a lit set
the drop shadow the garment casts is peeled off its outline. On a flat backdrop
the field is one colour and none of this changes the result. The result must be one main object: a garment
shot that shows two pieces, or nothing, is refused with a reason so the stage
can count it instead of writing a wrong mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.binary_mask import fill_holes
from pipeline.config_mapping import from_mapping
from pipeline.skip import SkipItem


class ClothMaskError(SkipItem):
    """No trustworthy garment mask; ``reason`` is a metrics slug.

    ``objects`` and ``second_ratio`` (second largest / largest area) are set for ``several_objects``.
    """

    def __init__(self, reason: str, detail: str = "", objects: int = 0, second_ratio: float = 0.0) -> None:
        super().__init__(reason, detail)
        self.objects = objects
        self.second_ratio = second_ratio


@dataclass(frozen=True)
class ClothMaskConfig:
    """Thresholds, as fractions of the image where they depend on its size."""

    border_fraction: float = 0.02
    min_distance: float = 2.0
    noise_factor: float = 4.0
    strong_factor: float = 3.0
    # Fitted on viton256/train (intact reference masks): 0.0025 left a 2-4 px fringe of JPEG halo
    # and soft shadow round the garment (IoU 0.944); 0.008 gives 0.968 there.
    trim_fraction: float = 0.008
    max_border_spread: float = 18.0
    close_fraction: float = 0.012
    open_fraction: float = 0.004
    min_area_fraction: float = 0.03
    second_object_ratio: float = 0.15
    # Background field: polynomial degree (0 = one colour), robust refits, outlier cutoff.
    background_degree: int = 2
    fit_rounds: int = 3
    fit_outlier_factor: float = 3.0
    # Drop shadow on a lit set: darkening by up to this share of the backdrop's
    # lightness, within this fraction of the image side of the garment's outline.
    shadow_depth: float = 0.3
    shadow_reach_fraction: float = 0.025

    def __post_init__(self) -> None:
        # Above degree 3 a polynomial is no longer fixed by the frame's border alone.
        if not 0 <= self.background_degree <= 3:
            raise ValueError(f"background_degree must be 0..3, got {self.background_degree}")
        if self.fit_rounds < 0:
            raise ValueError(f"fit_rounds must be >= 0, got {self.fit_rounds}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ClothMaskConfig":
        """Build from a params block, rejecting unknown keys."""
        return from_mapping(cls, data, "cloth-mask")


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
    in_border = np.zeros((height, width), dtype=bool)
    in_border[:band] = in_border[-band:] = True
    in_border[:, :band] = in_border[:, -band:] = True
    ys, xs = np.nonzero(in_border)
    border = lab[ys, xs]
    coef, border_dist = _fit_background(border, xs, ys, width, height, config)
    # A garment may touch the border (long sleeves), so judge plainness on most of it, not all.
    spread = float(np.percentile(border_dist, 75))
    if spread > config.max_border_spread:
        raise ClothMaskError("no_plain_background", f"border colour spread {spread:.1f} > {config.max_border_spread}")

    diff = lab - _background_field(coef, width, height)
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
        ratio = float(areas[order[1]] / main_area)
        raise ClothMaskError("several_objects", f"second object is {ratio:.2f} of the largest",
                             objects=int((areas > config.second_object_ratio * main_area).sum()), second_ratio=ratio)
    mask = fill_holes((labels == order[0] + 1).astype(np.uint8))
    if coef[1:].any():
        # Only a lit set (the border shows a vignette or gradient) is taken to cast
        # shadows: on a flat cut-out backdrop the peel would only eat grey garment rims.
        mask = _peel_shadow(mask, diff, lab[..., 0], threshold, side, config)
    # The faint threshold also takes the anti-aliased fringe; trim it back.
    trim = int(round(side * config.trim_fraction))
    if trim > 0:
        inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * trim + 1, 2 * trim + 1)))
        # Only faint edge pixels go: a clearly coloured edge is garment, and keeping it
        # keeps thin parts (straps, sleeve joins) attached.
        faint_edge = (mask > inner) & (dist <= threshold * config.strong_factor)
        mask = _drop_splinters(np.where(faint_edge, 0, mask).astype(np.uint8))
    return mask * 255


def _peel_shadow(
    mask: np.ndarray, diff: np.ndarray, lightness: np.ndarray, threshold: float, side: int, config: ClothMaskConfig
) -> np.ndarray:
    """Drop the drop shadow the garment casts on the backdrop from the mask's rim.

    A shadow is backdrop made darker at the backdrop's own chroma, and it only
    reaches a short way from the garment's outline, so only such pixels near the
    outline go; the garment's largest part is kept and its holes filled again.
    """
    reach = side * config.shadow_reach_fraction
    if reach < 1 or config.shadow_depth <= 0:
        return mask
    d_l = diff[..., 0]
    chroma = np.sqrt(diff[..., 1] ** 2 + diff[..., 2] ** 2)
    shadow = (d_l < 0) & (d_l > -config.shadow_depth * (lightness - d_l)) & (chroma <= threshold)
    rim = cv2.distanceTransform(mask, cv2.DIST_L2, 3) <= reach
    peeled = (mask.astype(bool) & ~(shadow & rim)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(peeled, connectivity=8)
    if count <= 1:
        return mask
    return fill_holes((labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8))


def _poly_terms(u: np.ndarray, v: np.ndarray, degree: int) -> list[np.ndarray]:
    """Monomials u**i * v**j with i + j <= degree (u, v in [-1, 1], so the fit is well conditioned)."""
    return [u**i * v**j for total in range(degree + 1) for i in range(total, -1, -1) for j in [total - i]]


def _fit_background(
    border: np.ndarray, xs: np.ndarray, ys: np.ndarray, width: int, height: int, config: ClothMaskConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Fit the smooth background field to the border pixels; return its coefficients and each pixel's distance to it.

    Up to degree 3 a polynomial is fixed by its values on the four sides of the
    frame (one vanishing on all four needs degree 4), so border pixels alone
    determine the field inside. Pixels far from the current fit (a garment
    touching the border) are dropped and the fit repeated.
    """
    u = xs.astype(np.float64) * (2.0 / max(width - 1, 1)) - 1.0
    v = ys.astype(np.float64) * (2.0 / max(height - 1, 1)) - 1.0
    design = np.stack(_poly_terms(u, v, config.background_degree), axis=1)
    values = border.astype(np.float64)
    # Start from the plain-background answer (the median colour), so a field is only
    # used where the border itself shows one.
    plain = np.zeros((design.shape[1], 3))
    plain[0] = np.median(values, axis=0)
    plain_dist = np.linalg.norm(values - design @ plain, axis=1)
    if config.background_degree == 0:
        return plain, plain_dist
    coef, dist = plain, plain_dist
    # A smooth field of a few terms needs a few thousand samples, not every border pixel.
    step = max(1, len(values) // 8192)
    sample_design, sample_values, sample_dist = design[::step], values[::step], dist[::step]
    for _ in range(config.fit_rounds):
        # Keep the background-like majority: garments touching the border stand well
        # clear of the typical residual.
        cutoff = max(config.fit_outlier_factor * float(np.median(sample_dist)), config.min_distance)
        keep = sample_dist <= cutoff
        if keep.sum() < 4 * design.shape[1]:
            break
        coef = np.linalg.lstsq(sample_design[keep], sample_values[keep], rcond=None)[0]
        sample_dist = np.linalg.norm(sample_values - sample_design @ coef, axis=1)
    # A backdrop that varies by less than the smallest garment step is plain: keep the
    # one colour there, so JPEG noise fitted as a faint field cannot move the edge.
    grid = np.linspace(-1.0, 1.0, 33)
    gu, gv = np.meshgrid(grid, grid)
    grid_design = np.stack(_poly_terms(gu.ravel(), gv.ravel(), config.background_degree), axis=1)
    swing = np.linalg.norm(grid_design @ (coef - plain), axis=1)
    if float(swing.max()) < config.min_distance:
        return plain, plain_dist
    return coef, np.linalg.norm(values - design @ coef, axis=1)


def _background_field(coef: np.ndarray, width: int, height: int) -> np.ndarray:
    """Evaluate the fitted field over the whole image as HxWx3 float32 CIELAB (a 3-vector when it is one colour)."""
    if not coef[1:].any():
        return coef[0].astype(np.float32)
    degree = int(round((np.sqrt(8 * coef.shape[0] + 1) - 3) / 2))
    # Separable form: field = V @ M @ U.T with M[j, i] the coefficient of u**i * v**j,
    # two small matrix products instead of one full-image pass per monomial.
    powers = [(i, total - i) for total in range(degree + 1) for i in range(total, -1, -1)]
    u = np.linspace(-1.0, 1.0, width, dtype=np.float32)[:, None] ** np.arange(degree + 1, dtype=np.float32)
    v = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None] ** np.arange(degree + 1, dtype=np.float32)
    field = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):
        m = np.zeros((degree + 1, degree + 1), dtype=np.float32)
        for (i, j), c in zip(powers, coef[:, channel]):
            m[j, i] = c
        field[..., channel] = v @ m @ u.T
    return field


def _drop_splinters(mask: np.ndarray, keep_ratio: float = 0.02) -> np.ndarray:
    """Drop the fringe crumbs trimming leaves; parts of the garment it detached stay."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], areas >= keep_ratio * areas.max()])
    return keep[labels].astype(np.uint8)


def _odd(size: float) -> int:
    k = max(1, int(round(size)))
    return k if k % 2 else k + 1
