"""Stage train_tom: train the try-on module on GMM-warped cloth (``python -m stages.train_tom``, or under ``torchrun``)."""

from __future__ import annotations

from pathlib import Path

from pipeline.dataset.annotation_record import read_annotation
from pipeline.train.config import TrainConfig
from pipeline.train.stage_runner import StagePaths, run_training_stage
from stages._common import stage_setup

WARPED = Path("data/warp")


def main() -> None:
    cfg = TrainConfig.from_dict(stage_setup("train_tom"))
    run_training_stage("tom", cfg, StagePaths.for_stage("train_tom"), warped_root=WARPED, annotation=read_annotation(cfg.dataset))


if __name__ == "__main__":
    main()
