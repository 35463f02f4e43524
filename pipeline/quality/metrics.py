"""Agreement metrics between predicted and reference annotations: PCK for keypoints, IoU for label maps and masks.

PCK (percentage of correct keypoints): a reference joint with confidence > 0
counts as found when the prediction has the joint (confidence > 0) within
``threshold × reference size`` pixels. Joints the reference lacks are not
scored (a predicted extra joint is neither right nor wrong), so a missed image
must be scored by passing an all-zero prediction. The reference size is the
torso length of the reference pose (see :func:`torso_size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Indices of neck and the hips in the two OpenPose body models.
_NECK = 1
_HIPS = {25: (9, 12), 18: (8, 11)}
_SHOULDERS = (2, 5)


def torso_size(keypoints: np.ndarray) -> float | None:
    """Torso length of an OpenPose pose (BODY_25 or COCO-18): neck to the mid-point of the two hips.

    The mid-point of the hips is BODY_25's MidHip by construction and is also
    defined for COCO-18, so both models are measured the same way. When the
    neck or a hip is missing, twice the shoulder width stands in (the median
    torso/shoulder ratio of adult bodies is about 1.6–2); None when neither exists.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    hips = _HIPS.get(kp.shape[0])
    if hips is None:
        raise ValueError(f"expected 25 or 18 keypoints, got {kp.shape[0]}")
    neck, r_hip, l_hip = kp[_NECK], kp[hips[0]], kp[hips[1]]
    if neck[2] > 0 and r_hip[2] > 0 and l_hip[2] > 0:
        size = float(np.linalg.norm(neck[:2] - (r_hip[:2] + l_hip[:2]) / 2))
        if size > 0:
            return size
    r_sh, l_sh = kp[_SHOULDERS[0]], kp[_SHOULDERS[1]]
    if r_sh[2] > 0 and l_sh[2] > 0:
        size = 2.0 * float(np.linalg.norm(r_sh[:2] - l_sh[:2]))
        if size > 0:
            return size
    return None


@dataclass
class PCKCounts:
    """Per-joint hits and totals, summable over images (``a + b``)."""

    hits: np.ndarray
    totals: np.ndarray
    images: int = 1
    missed_images: int = 0
    names: Sequence[str] | None = field(default=None, compare=False)

    @property
    def overall(self) -> float:
        """Fraction of scored reference joints that were found (NaN when none were scored)."""
        total = int(self.totals.sum())
        return float(self.hits.sum() / total) if total else float("nan")

    def per_joint(self) -> np.ndarray:
        """Per-joint PCK; NaN for joints the reference never has."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.totals > 0, self.hits / np.maximum(self.totals, 1), np.nan)

    def __add__(self, other: "PCKCounts") -> "PCKCounts":
        if self.hits.shape != other.hits.shape:
            raise ValueError(f"cannot add PCK counts of {self.hits.shape[0]} and {other.hits.shape[0]} joints")
        return PCKCounts(
            self.hits + other.hits,
            self.totals + other.totals,
            self.images + other.images,
            self.missed_images + other.missed_images,
            self.names or other.names,
        )


def pck(
    pred: np.ndarray | None,
    gt: np.ndarray,
    threshold: float = 0.1,
    ref_size: float | None = None,
) -> PCKCounts:
    """PCK of one image: ``pred`` and ``gt`` are ``(K, 3)`` (x, y, conf) in the same joint order.

    ``pred=None`` means the image was missed: every reference joint counts as not found.
    ``ref_size`` defaults to :func:`torso_size` of ``gt``; a reference without a
    measurable size raises ``ValueError`` (such an image cannot be scored).
    """
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 3)
    k = gt.shape[0]
    missed = pred is None
    pred_arr = np.zeros((k, 3)) if pred is None else np.asarray(pred, dtype=np.float64).reshape(-1, 3)
    if pred_arr.shape != gt.shape:
        raise ValueError(f"prediction has {pred_arr.shape[0]} joints, reference {k}")
    size = torso_size(gt) if ref_size is None else float(ref_size)
    if size is None or not size > 0:
        raise ValueError("reference pose has no neck/hips or shoulders to measure its size")
    scored = gt[:, 2] > 0
    dist = np.linalg.norm(pred_arr[:, :2] - gt[:, :2], axis=1)
    hit = scored & (pred_arr[:, 2] > 0) & (dist <= threshold * size)
    return PCKCounts(hit.astype(np.int64), scored.astype(np.int64), 1, int(missed))


def iou_counts(pred: np.ndarray, gt: np.ndarray, classes: Sequence[int | Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Intersection and union pixel counts per class (or per group of ids) for two HxW label maps."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch: prediction {pred.shape} vs reference {gt.shape}")
    inter = np.zeros(len(classes), dtype=np.int64)
    union = np.zeros(len(classes), dtype=np.int64)
    for i, cls in enumerate(classes):
        ids = [cls] if np.isscalar(cls) else list(cls)
        p = np.isin(pred, ids)
        g = np.isin(gt, ids)
        inter[i] = np.count_nonzero(p & g)
        union[i] = np.count_nonzero(p | g)
    return inter, union


def miou(pred: np.ndarray, gt: np.ndarray, classes: Sequence[int | Sequence[int]]) -> tuple[np.ndarray, float]:
    """Per-class IoU (NaN where the class is in neither map) and their mean over the classes present."""
    inter, union = iou_counts(pred, gt, classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        ious = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    present = ~np.isnan(ious)
    return ious, float(ious[present].mean()) if present.any() else float("nan")


def mask_iou(pred: np.ndarray, gt: np.ndarray, threshold: int = 127) -> float:
    """IoU of two binary masks (values above ``threshold`` are foreground); 1.0 when both are empty."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch: prediction {pred.shape} vs reference {gt.shape}")
    p = pred > threshold if pred.dtype != bool else pred
    g = gt > threshold if gt.dtype != bool else gt
    union = np.count_nonzero(p | g)
    return 1.0 if union == 0 else float(np.count_nonzero(p & g) / union)
