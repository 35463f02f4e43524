"""Move the BODY_25 hips toward the upper garment's hem found in our own parse map.

Why: OpenPose's hips follow clothing. Over the 28 reference photos (16
VITON-HD BODY_25, 12 VITON COCO-18) the vertical gap between our hips and
OpenPose's correlates (r = -0.64) with where the top's hem lies relative to
our hip: OpenPose is drawn toward the hem. The relation is lopsided. When the
top ends below the hip, OpenPose's hip sits most of the way down to that hem
(the hem is the nearest horizontal outline across the hip); when the hem lies
above the hip (a short or tucked top, the waistband showing), OpenPose moves
up only a little. Hems farther than ``hem_max_distance`` torso lengths away
belong to a tunic or a crop top and say nothing about the hip.

The first constants were chosen on the 28 photos above, which is too few: on
300 unseen viton256/val photos they gave 0.963 (0.952 without the pull). The
defaults are now fitted on 1,088 viton256/train photos (every sixth; grid over
the three constants, our default parser's maps, PCK@0.1 of all joints): 0.958
→ 0.967 there. The optimum is flat for ``hem_pull_down`` 0.4-0.5 and
``hem_max_distance`` from 0.4 up, and ``hem_pull_up`` fits to 0 (a hem above the
hip says nothing). On data not fitted on: viton256/val 0.963 → 0.965 (hips
0.86/0.87 → 0.89/0.88), viton_test12 0.976 → 0.970, vitonhd_train16 0.929 →
0.925, dresscode15 0.914 → 0.903 (full-body photos, where the pull now reaches
hems it used to ignore).

The fit saw VITON's framing: photos cut at the thighs, where under a tenth show a knee and
almost none an ankle. On full-body photos (Dress Code) the pull moved hips the wrong way, down
to a loose blouse's or a long top's hem, where OpenPose keeps them at the waistband:
``dresscode15`` PCK@0.1 0.953 without the pull, 0.932 with it. So the pull is left out, unless
``hem_pull_full_body``, on photos where both ankles are found: outside the framing it was
fitted on. (That choice was made after looking at ``dresscode15``, so its figure there is not
blind; ``viton256/val``, ``vitonhd_train16`` and ``viton_test12`` do not move.)

The hem near a hip is the median, over the columns within ``_HALF_WIDTH``
torso lengths of the hip's x, of each column's lowest upper-garment pixel
(CIHP 5 upper-clothes, 7 coat; a dress has no hem near the hip). No hem is
used when fewer than half of those columns show the garment, or when the
garment runs into the bottom of the frame (the hem is then unseen).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.annotate.body25 import L_ANKLE, L_HIP, MID_HIP, R_ANKLE, R_HIP, torso_length

UPPER_GARMENT_IDS = (5, 7)
# Columns looked at on each side of the hip, and how far above it a garment may start, in torso lengths.
_HALF_WIDTH = 0.1
_SEARCH_ABOVE = 0.6


class HemPullConfig(Protocol):
    """The three constants and the framing switch (``PoseConfig`` carries them)."""

    hem_pull_down: float
    hem_pull_up: float
    hem_max_distance: float
    hem_pull_full_body: bool


def hem_row(parse: np.ndarray, x: float, y: float, torso: float) -> float | None:
    """Row of the upper garment's hem below/around ``(x, y)``, or None when not seen."""
    h, w = parse.shape[:2]
    x0 = int(max(0, round(x - _HALF_WIDTH * torso)))
    x1 = int(min(w, round(x + _HALF_WIDTH * torso) + 1))
    top = int(max(0, round(y - _SEARCH_ABOVE * torso)))
    if x1 - x0 < 1 or top >= h:
        return None
    garment = np.isin(parse[top:, x0:x1], UPPER_GARMENT_IDS)
    cols = garment.any(axis=0)
    if cols.sum() < max(1, 0.5 * (x1 - x0)):
        return None
    lowest = garment.shape[0] - 1 - np.argmax(garment[::-1, cols], axis=0) + top
    hem = float(np.median(lowest))
    if hem >= h - 2:
        return None
    return hem


def shows_full_body(body25: np.ndarray) -> bool:
    """Both ankles found: a full-body photo, not the thigh-cut framing the pull was fitted on."""
    return bool(body25[R_ANKLE, 2] > 0 and body25[L_ANKLE, 2] > 0)


def refine_hips_with_parse(body25: np.ndarray, parse: np.ndarray, cfg: HemPullConfig) -> np.ndarray:
    """A copy of ``body25`` (25, 3) with RHip/LHip moved vertically toward the top's hem; MidHip follows.

    ``parse`` is a CIHP label map of the same image. Unchanged when both pulls
    are 0, when neck or a hip is missing, when no hem lies within
    ``hem_max_distance`` torso lengths of a hip, or on a full-body photo (:func:`shows_full_body`)
    unless ``cfg.hem_pull_full_body``.
    """
    out = np.array(body25, dtype=np.float64, copy=True).reshape(-1, 3)
    if out.shape[0] != 25:
        raise ValueError(f"expected BODY_25 keypoints, got {out.shape[0]}")
    parse = np.asarray(parse)
    if parse.ndim != 2:
        raise ValueError(f"expected an HxW label map, got shape {parse.shape}")
    torso = torso_length(out)
    if (cfg.hem_pull_down == 0 and cfg.hem_pull_up == 0) or torso is None:
        return out
    if not cfg.hem_pull_full_body and shows_full_body(out):
        return out
    for j in (R_HIP, L_HIP):
        hem = hem_row(parse, out[j, 0], out[j, 1], torso)
        if hem is None:
            continue
        gap = hem - out[j, 1]  # > 0: hem below the hip (image y grows downward)
        if abs(gap) > cfg.hem_max_distance * torso:
            continue
        out[j, 1] += (cfg.hem_pull_down if gap >= 0 else cfg.hem_pull_up) * gap
    if out[MID_HIP, 2] > 0:
        out[MID_HIP, :2] = (out[R_HIP, :2] + out[L_HIP, :2]) / 2
    return out
