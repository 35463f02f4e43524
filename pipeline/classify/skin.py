"""Skin where a person's skin shows (hands, wrists, elbows, neck) but not on the torso: evidence of a body, not a garment.

MediaPipe Pose also "finds" a body in a flat garment shot, so a body-shaped silhouette is no
proof of a person. A face is; so is skin at the arm and neck sites of the pose while the
torso between them is covered. A skin-coloured garment shows "skin" everywhere, the torso
included, which is why the torso test is there.

The skin colour test is the usual YCrCb box (Chai and Ngan's, a little widened): one line of
OpenCV; no library ships a better skin model without a learned network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BlazePose landmark ids of the sites and of the torso corners; a hand is the middle of its
# wrist, pinky, index and thumb marks (a long sleeve ends at the wrist mark, the hand is past it).
_SITES = {"left_wrist": 15, "right_wrist": 16, "left_elbow": 13, "right_elbow": 14,
          "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28}
_HANDS = {"left_hand": (15, 17, 19, 21), "right_hand": (16, 18, 20, 22)}
_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP = 11, 12, 23, 24
_CR, _CB, _MIN_Y = (135, 180), (85, 135), 40


@dataclass(frozen=True)
class SkinEvidence:
    """Share of skin-coloured pixels at each site (None: off the picture), on the torso and over the hips."""

    sites: dict[str, float | None]
    torso: float | None
    hips: float | None = None
    # CIELAB distance between the skin at the sites and the torso's (and the hips') colour
    torso_contrast: float | None = None
    hips_contrast: float | None = None

    def covered(self, max_skin: float, min_contrast: float = float("inf"), min_gap: float = 0.0) -> bool:
        """The torso or the hips are clothed: less than ``max_skin`` of them is skin-coloured and their
        colour is at least ``min_gap`` from the sites' skin, or it is at least ``min_contrast`` from it
        (a skin-toned dress on real arms). A part whose colour is the sites' "skin" tone is the same
        material as the sites: a red or pink garment whose fringe the skin box takes for skin. A torso
        that is skin-coloured and of the sites' tone is one material with them (bare, or a skin-toned
        garment), and then the hips cannot prove clothing: a flat pink top's pose puts its hips below
        the hem, on the white backdrop, which is far from the pink "skin"."""
        torso_bare = (self.torso is not None and self.torso >= max_skin
                      and self.torso_contrast is not None and self.torso_contrast < min_gap)
        if torso_bare:
            return False
        return any(
            (share is not None and share < max_skin and (far is None or far >= min_gap))
            or (far is not None and far >= min_contrast)
            for share, far in ((self.torso, self.torso_contrast), (self.hips, self.hips_contrast))
        )

    def skin_sites(self, fraction: float) -> int:
        """How many sites are at least ``fraction`` skin."""
        return sum(1 for v in self.sites.values() if v is not None and v >= fraction)

    def is_person(self, fraction: float, min_sites: int, max_covered: float, min_contrast: float = float("inf"),
                  min_gap: float = 0.0) -> bool:
        """Skin at ``min_sites`` sites while the torso or the hips are covered (see :meth:`covered`)."""
        return self.covered(max_covered, min_contrast, min_gap) and self.skin_sites(fraction) >= min_sites


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    """``HxW`` bool: skin-coloured pixels of an RGB uint8 picture."""
    ycc = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    return (cr >= _CR[0]) & (cr <= _CR[1]) & (cb >= _CB[0]) & (cb <= _CB[1]) & (y > _MIN_Y)


Disk = tuple[slice, slice, np.ndarray]  # rows, columns, and the disk within that box


def _disk(shape: tuple[int, int], x: float, y: float, radius: float) -> Disk | None:
    h, w = shape
    cx, cy = int(x), int(y)
    if not (0 <= cx < w and 0 <= cy < h):
        return None
    r = max(2, int(round(radius)))
    y0, y1, x0, x1 = max(0, cy - r), min(h, cy + r + 1), max(0, cx - r), min(w, cx + r + 1)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    return slice(y0, y1), slice(x0, x1), (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _share(mask: np.ndarray, disk: Disk | None) -> float | None:
    return None if disk is None else float(mask[disk[0], disk[1]][disk[2]].mean())


def skin_evidence(rgb: np.ndarray, marks: np.ndarray, radius: float) -> SkinEvidence:
    """Skin at the pose's hand, arm, leg and neck sites; skin share and colour contrast of torso and hips.

    ``marks`` is BlazePose's 33x4 in picture fractions. Disks have ``radius`` shoulder widths
    (twice that on torso and hips); the neck site lies a quarter shoulder width above the
    shoulders' middle, so it is found on a picture cropped below the chin.
    """
    h, w = rgb.shape[:2]
    skin = skin_mask(rgb)
    px = marks[:, 0] * w
    py = marks[:, 1] * h
    shoulder = float(abs(px[_L_SHOULDER] - px[_R_SHOULDER]))
    r = radius * max(shoulder, 1.0)
    coords = {name: (float(px[i]), float(py[i])) for name, i in _SITES.items()}
    coords.update({name: (float(px[list(ids)].mean()), float(py[list(ids)].mean())) for name, ids in _HANDS.items()})
    coords["neck"] = (float(px[[_L_SHOULDER, _R_SHOULDER]].mean()),
                      float(py[[_L_SHOULDER, _R_SHOULDER]].mean()) - 0.25 * shoulder)
    site_disks = {name: _disk(skin.shape, x, y, r) for name, (x, y) in coords.items()}
    sites = {name: _share(skin, disk) for name, disk in site_disks.items()}
    corners = [_L_SHOULDER, _R_SHOULDER, _L_HIP, _R_HIP]
    centres = {"torso": (float(px[corners].mean()), float(py[corners].mean())),
               "hips": (float(px[[_L_HIP, _R_HIP]].mean()), float(py[[_L_HIP, _R_HIP]].mean()))}
    part_disks = {k: _disk(skin.shape, x, y, 2 * r) for k, (x, y) in centres.items()}
    shares = {k: _share(skin, disk) for k, disk in part_disks.items()}
    # The sites' skin tone against each body part's colour, in CIELAB (L 0-100, a and b signed).
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100 / 255
    lab[..., 1:] -= 128
    found = [lab[d[0], d[1]][d[2] & skin[d[0], d[1]]] for d in site_disks.values() if d is not None]
    tone_pixels = np.concatenate(found) if found else np.empty((0, 3), np.float32)
    contrast: dict[str, float | None] = {"torso": None, "hips": None}
    if len(tone_pixels):
        tone = np.median(tone_pixels, axis=0)
        for k, d in part_disks.items():
            if d is not None:
                contrast[k] = float(np.linalg.norm(np.median(lab[d[0], d[1]][d[2]], axis=0) - tone))
    return SkinEvidence(sites, shares["torso"], shares["hips"], contrast["torso"], contrast["hips"])
