"""Crops around our keypoints, scaled to the torso, for the keypoint refiner (numpy and OpenCV only).

The pose stage runs the refiner through onnxruntime, so nothing here imports torch; the network
itself is :mod:`pipeline.models.keypoint_refiner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.annotate.body25 import L_ELBOW, L_HIP, L_WRIST, MID_HIP, NECK, R_ELBOW, R_HIP, R_WRIST, torso_length
from pipeline.config_mapping import from_mapping

# BODY_25 joints whose left and right versions swap when a crop is mirrored.
_MIRROR_PAIRS = ((2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18), (19, 22), (20, 23), (21, 24))
MIRROR = {**{a: b for a, b in _MIRROR_PAIRS}, **{b: a for a, b in _MIRROR_PAIRS}}
DEFAULT_JOINTS = (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST, R_HIP, L_HIP)


@dataclass(frozen=True)
class KeypointRefinerConfig:
    """Which BODY_25 joints are refined, and the crops and widths of the network."""

    joints: tuple[int, ...] = DEFAULT_JOINTS
    patch: int = 64  # side of each crop in pixels
    scales: tuple[float, ...] = (0.8, 1.6)  # crop sides in our torso lengths
    widths: tuple[int, ...] = (32, 64, 96, 128)  # one stride-2 block each

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", tuple(int(j) for j in self.joints))
        object.__setattr__(self, "scales", tuple(float(s) for s in self.scales))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if not self.joints or any(not 0 <= j < 25 or j in (NECK, MID_HIP) for j in self.joints):
            raise ValueError(f"joints must be BODY_25 ids other than the neck (1) and MidHip (8), got {list(self.joints)}")
        missing = sorted({MIRROR[j] for j in self.joints if j in MIRROR} - set(self.joints))
        if missing:
            raise ValueError(f"joints must hold both sides of a pair (mirrored crops swap them); add {missing}")
        if self.patch < 2 ** len(self.widths) or not self.scales or min(self.scales) <= 0 or not self.widths:
            raise ValueError(f"patch must be >= 2**len(widths), scales > 0 and widths non-empty; got {self}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "KeypointRefinerConfig":
        """Build from a mapping; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "keypoint refiner")

    @property
    def in_channels(self) -> int:
        return 3 * len(self.scales)


def crop_torso(body: np.ndarray) -> float | None:
    """The torso length the crops are scaled by; None when it is missing or under a pixel."""
    return torso_length(body, shortest=1.0)


def joint_crops(rgb: np.ndarray, x: float, y: float, torso: float, cfg: KeypointRefinerConfig, mirror: bool = False) -> np.ndarray:
    """The crops around ``(x, y)``, ``patch x patch x 3 * len(scales)`` uint8; edges replicated past the frame."""
    out = joint_crops_many(rgb, np.array([[x, y]], np.float64), torso, cfg)[0]
    return np.ascontiguousarray(out[:, ::-1]) if mirror else out


def joint_crops_many(rgb: np.ndarray, points: np.ndarray, torso: float, cfg: KeypointRefinerConfig) -> np.ndarray:
    """:func:`joint_crops` of several points ``[N, 2]`` of one picture, ``[N, patch, patch, C]``.

    A crop smaller than its source is taken from the picture first shrunk by area averaging:
    warpAffine has no area filter (INTER_AREA falls back to bilinear), and bilinear sampling of a
    768x1024 photo at a quarter of its size aliases fine texture that the 256x192 photos the
    refiner learns from never show. The picture is shrunk once per scale, for all the points.
    """
    p = cfg.patch
    h, w = rgb.shape[:2]
    points = np.asarray(points, np.float64).reshape(-1, 2)
    per_scale = []
    for s in cfg.scales:
        k = p / (s * torso)
        src, kx, ky = rgb, 1.0, 1.0
        if k < 1:
            size = (max(1, round(w * k)), max(1, round(h * k)))
            src = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            kx, ky = size[0] / w, size[1] / h
        crops = []
        for x, y in points:
            # The point in the shrunk picture (pixel centres map as cv2.resize maps them).
            xs, ys = (x + 0.5) * kx - 0.5, (y + 0.5) * ky - 0.5
            ax, ay = k / kx, k / ky
            m = np.array([[ax, 0.0, p / 2 - ax * xs], [0.0, ay, p / 2 - ay * ys]], np.float32)
            crops.append(cv2.warpAffine(src, m, (p, p), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        per_scale.append(np.stack(crops))
    return np.concatenate(per_scale, axis=3)


def crops_to_input(crops: np.ndarray) -> np.ndarray:
    """``[N, P, P, C]`` uint8 → ``[N, C, P, P]`` float32 in [-1, 1], the network's input."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 127.5 - 1.0
