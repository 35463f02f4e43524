"""Typed settings of a training stage (one ``train_gmm:``/``train_tom:`` params block)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

from pipeline.config_mapping import from_mapping

LR_SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on; ``model``, ``loss_weights`` and ``discriminator`` go to the model and loss configs."""

    dataset: str = "data/dataset"
    size: tuple[int, int] = (256, 192)
    epochs: int = 3
    batch_size: int = 4
    workers: int = 0
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    warmup_epochs: float = 0.0
    # constant after the warm-up, or linear: decay to 0 at the last step (of ``epochs``, or of the
    # time budget when that ends the run first; pipeline.train.loop.LRSchedule)
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    checkpoint_every: int = 1
    sample_every: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # fp16 autocast on CUDA
    cpu_bf16: bool = True  # bf16 autocast on CPUs with native bf16 (AVX512-BF16, AMX); ignored elsewhere
    channels_last: bool = True  # NHWC tensors: the layout oneDNN's CPU convolutions are fastest in
    time_budget_s: float = 0.0  # stop before an epoch that would end past this many seconds (0 = off)
    train_split: str = "train"
    val_split: str = "test"
    pose_format: str = "auto"
    validate: str = "full"
    limit_train: int | None = None
    limit_val: int | None = None
    model: dict[str, Any] = field(default_factory=dict)
    loss_weights: dict[str, float] = field(default_factory=dict)
    # TOM only: what the composition mask is pulled towards (pipeline.models.losses.MASK_TARGETS)
    mask_target: str = "warped"
    vgg_weights: str = ""
    # TOM only: the perceptual and style losses see the images resized by this factor (0.5: a
    # quarter of the VGG's pixels, so about a quarter of its cost per step)
    vgg_scale: float = 1.0
    discriminator: dict[str, Any] = field(default_factory=dict)
    registered_model_name: str = ""
    # A saved model folder (or a release folder such as models/viton256) whose weights this run starts
    # from instead of a random initialisation; None trains from scratch. pipeline.train.init_weights.
    init_from: str | None = None
    mlflow_experiment: str = "vesaki-vton"  # empty: no MLflow run
    log_model: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a params block, rejecting unknown keys and impossible values."""
        cfg = from_mapping(cls, data, "training")
        cfg.validate_values()
        return cfg

    def validate_values(self) -> None:
        """Raise ``ValueError`` naming the param when a value cannot work."""
        if len(self.size) != 2 or min(self.size) < 16:
            raise ValueError(f"size must be [height, width] of at least 16 pixels, got {list(self.size)}")
        for name in ("epochs", "batch_size", "checkpoint_every", "sample_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0 or self.threads < 0 or self.warmup_epochs < 0 or self.weight_decay < 0 or self.lr <= 0:
            raise ValueError("workers, warmup_epochs and weight_decay must be >= 0 and lr > 0")
        if self.time_budget_s < 0:
            raise ValueError(f"time_budget_s must be >= 0 (0 = no budget), got {self.time_budget_s}")
        if not 0 < self.vgg_scale <= 1:
            raise ValueError(f"vgg_scale must be in (0, 1], got {self.vgg_scale}")
        if self.mask_target not in ("warped", "warped_worn"):
            raise ValueError(f"mask_target must be warped or warped_worn, got {self.mask_target!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.init_from is not None and not Path(self.init_from).is_dir():
            raise ValueError(f"init_from {self.init_from!r} is not a folder (a saved model folder, or null to train from scratch)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def params_hash(self) -> str:
        """Short stable hash of every setting, used to tag runs and to match checkpoints."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def trajectory_hash(self) -> str:
        """Hash of the settings that shape the weights; a checkpoint resumes only when it matches.

        ``epochs`` is left out on purpose: raising it continues a finished run
        instead of starting over. Logging and worker settings do not change weights.
        """
        volatile = {"epochs", "checkpoint_every", "sample_every", "workers", "threads", "log_model",
                    "registered_model_name", "mlflow_experiment", "device", "time_budget_s"}
        data = {k: v for k, v in self.to_dict().items() if k not in volatile}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def flat_params(self) -> dict[str, str]:
        """Dotted ``key -> value`` view for MLflow (nested dicts flattened)."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)

        walk("", self.to_dict())
        return out
