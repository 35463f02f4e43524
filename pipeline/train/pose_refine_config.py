"""Typed settings of the keypoint refiner's training (the ``train_pose_refine:`` params block)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.config_mapping import from_mapping
from pipeline.annotate.joint_crops import DEFAULT_JOINTS, KeypointRefinerConfig


@dataclass(frozen=True)
class PoseRefineTrainConfig:
    """What one training of the keypoint refiner depends on; the network's fields go to :class:`KeypointRefinerConfig`."""

    dataset: str = "data/import_data"
    train_split: str = "train"
    val_split: str = "tune"
    joints: tuple[int, ...] = DEFAULT_JOINTS  # BODY_25 ids
    patch: int = 64
    scales: tuple[float, ...] = (0.8, 1.6)
    widths: tuple[int, ...] = (32, 64, 96, 128)
    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    jitter: float = 0.2  # brightness and colour jitter of the crops while training; 0 = none
    workers: int = 2  # processes that run our pose estimator over the pictures
    threads: int = 0
    seed: int = 0
    limit_train: int | None = None
    limit_val: int | None = None
    pck_threshold: float = 0.1  # in the reference's torso lengths, as bench_annotation_quality scores
    mlflow_experiment: str = "vesaki-vton"  # "" = no MLflow run

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PoseRefineTrainConfig":
        """Build from the params block, rejecting unknown keys and impossible values."""
        cfg = from_mapping(cls, data, "train_pose_refine")
        try:
            cfg.refiner  # noqa: B018 - validates joints, patch, scales and widths
        except ValueError as exc:
            raise ValueError(f"train_pose_refine: {exc}") from None
        if cfg.epochs < 1 or cfg.batch_size < 2:
            raise ValueError("train_pose_refine.epochs must be >= 1 and batch_size >= 2 (BatchNorm needs two crops)")
        if cfg.lr <= 0 or cfg.weight_decay < 0 or cfg.jitter < 0 or cfg.pck_threshold <= 0 or cfg.workers < 1:
            raise ValueError("train_pose_refine.lr and pck_threshold must be > 0, weight_decay and jitter >= 0, workers >= 1")
        return cfg

    @property
    def refiner(self) -> KeypointRefinerConfig:
        return KeypointRefinerConfig(joints=self.joints, patch=self.patch, scales=self.scales, widths=self.widths)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
