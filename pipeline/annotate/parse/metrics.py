"""Agreement between predicted and reference parse maps: per-class and grouped IoU."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.annotate.parse.labels import CIHP_LABELS
from pipeline.quality.labels import PARSE_GROUPS

# The groups the quality goal is stated on; arms and legs are also scored per side.
EVAL_GROUPS: dict[str, tuple[int, ...]] = PARSE_GROUPS
SIDED_GROUPS: dict[str, tuple[int, ...]] = {
    "left-arm": (14,), "right-arm": (15,), "left-leg": (16,), "right-leg": (17,),
}


@dataclass
class IoUAccumulator:
    """Sums a 20x20 confusion matrix over pictures; IoU is read off the totals."""

    confusion: np.ndarray = field(default_factory=lambda: np.zeros((len(CIHP_LABELS),) * 2, np.int64))

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        """Count one picture (both HxW CIHP maps of the same size)."""
        if pred.shape != truth.shape:
            raise ValueError(f"shape mismatch: prediction {pred.shape} vs reference {truth.shape}")
        n = len(CIHP_LABELS)
        idx = truth.astype(np.int64).ravel() * n + pred.astype(np.int64).ravel()
        self.confusion += np.bincount(idx, minlength=n * n).reshape(n, n)

    def group_iou(self, ids: tuple[int, ...]) -> float | None:
        """IoU of the union of ``ids``; None when neither side has any such pixel."""
        ids_ = list(ids)
        tp = self.confusion[np.ix_(ids_, ids_)].sum()
        truth = self.confusion[ids_, :].sum()
        pred = self.confusion[:, ids_].sum()
        union = truth + pred - tp
        return None if union == 0 else float(tp / union)

    def report(self, groups: dict[str, tuple[int, ...]] = EVAL_GROUPS) -> dict[str, float | None]:
        """IoU per group plus ``mIoU`` over the groups that occur."""
        out: dict[str, float | None] = {name: self.group_iou(ids) for name, ids in groups.items()}
        vals = [v for v in out.values() if v is not None]
        out["mIoU"] = float(np.mean(vals)) if vals else None
        return out
