"""Typed settings of the learned parser's training (the ``train_parse:`` params block)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline.config_mapping import from_mapping
from pipeline.models.parse_net import ParseNetConfig


@dataclass(frozen=True)
class ParseTrainConfig:
    """What one training of the parser depends on; ``widths`` goes to :class:`ParseNetConfig`."""

    dataset: str = "data/import_data"
    train_split: str = "train"
    val_split: str = "test"
    size: tuple[int, int] = (256, 192)  # [height, width], multiples of the network's stride
    widths: tuple[int, ...] = ParseNetConfig().widths
    epochs: int = 5
    batch_size: int = 8
    lr: float = 2e-3
    # Per-epoch factor: a schedule that does not depend on the planned epochs, so a run resumed
    # with more of them carries on where it stopped.
    lr_decay: float = 0.7
    weight_decay: float = 1e-4
    augment: float = 1.0  # strength of the framing / colour changes; 0 = none (mirroring stays)
    workers: int = 1
    threads: int = 0
    seed: int = 0
    device: str = "auto"
    channels_last: bool = True
    time_budget_s: float = 0.0  # stop before an epoch that would end past this many seconds (0 = off)
    limit_train: int | None = None
    limit_val: int | None = 300
    mlflow_experiment: str = "vesaki-vton"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ParseTrainConfig":
        """Build from the params block, rejecting unknown keys and impossible values."""
        cfg = from_mapping(cls, data, "train_parse")
        cfg.validate_values()
        return cfg

    def validate_values(self) -> None:
        """Raise ``ValueError`` naming the param when a value cannot work."""
        stride = self.net.stride
        if len(self.size) != 2 or min(self.size) < stride or any(s % stride for s in self.size):
            raise ValueError(f"train_parse.size must be [height, width], multiples of {stride}; got {list(self.size)}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("train_parse.epochs must be >= 1 and batch_size >= 2 (BatchNorm needs two pictures)")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"train_parse.lr_decay must be in (0, 1], got {self.lr_decay}")
        if self.lr <= 0 or self.weight_decay < 0 or self.augment < 0 or self.time_budget_s < 0:
            raise ValueError("train_parse.lr must be > 0; weight_decay, augment and time_budget_s >= 0")

    @property
    def net(self) -> ParseNetConfig:
        return ParseNetConfig(widths=self.widths)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def params_hash(self) -> str:
        """Short stable hash of every setting; a checkpoint resumes only when the weights' recipe matches."""
        shaping = {k: v for k, v in self.to_dict().items() if k not in ("workers", "threads", "time_budget_s", "mlflow_experiment", "epochs")}
        return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:12]
