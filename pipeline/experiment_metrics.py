"""The few figures that compare experiments: what ``dvc exp show`` and ``dvc metrics diff`` display.

Every stage keeps its full report (counts, skips, seconds, per-category blocks) in
``metrics/<stage>.json``, an output kept in git but not a DVC metric. Only these headline
files under ``metrics/headline/`` are declared as metrics: the final losses of the two
trainings and the evaluation's SSIM, PSNR and LPIPS for the model and each baseline, with
the warped mask's IoU. About twenty columns in all, so the experiment table stays readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.io.atomic import write_json

# stage -> (column group, keys of its metrics file)
TRAINING_KEYS = {
    "train_gmm": ("gmm", ("train_loss", "val_loss", "val_mask_iou")),
    "train_tom": ("tom", ("train_loss", "val_loss", "val_ssim")),
}
EVALUATE_KEYS = ("ssim", "psnr", "lpips")


def headline_path(metrics_root: Path, stage: str) -> Path:
    """``<metrics_root>/headline/<stage>.json``."""
    return metrics_root / "headline" / f"{stage}.json"


def training_headline(stage: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """``{group: {final losses}}`` of a training stage's metrics (keys it lacks are left out)."""
    group, keys = TRAINING_KEYS[stage]
    return {group: {k: metrics[k] for k in keys if isinstance(metrics.get(k), (int, float))}}


def evaluate_headline(summary: dict[str, Any]) -> dict[str, Any]:
    """``{system: {ssim, psnr, lpips}}`` for the model and every baseline, plus the warped mask's IoU, the
    number of test pairs, and the half-width of the model's 95 % bootstrap interval (``ssim_pm`` ...):
    a difference between two experiments smaller than that is within the noise of the test split."""
    systems = {"model": summary.get("model", {}), **summary.get("baselines", {})}
    out: dict[str, Any] = {s: {k: block.get(k) for k in EVALUATE_KEYS} for s, block in systems.items()}
    intervals = summary.get("model", {}).get("ci95") or {}
    for k in EVALUATE_KEYS:
        ci = intervals.get(k)
        if isinstance(ci, list) and len(ci) == 2:
            out["model"][f"{k}_pm"] = round((ci[1] - ci[0]) / 2, 6)
    out["warped_mask_iou"] = summary.get("warped_mask_iou")
    out["pairs"] = summary.get("pairs")
    return out


def write_headline(path: Path, figures: dict[str, Any]) -> None:
    """Write one headline file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, figures)
