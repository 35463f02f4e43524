"""Stage train_gmm: train the geometric matching module (``python -m stages.train_gmm``, or under ``torchrun``)."""

from __future__ import annotations

from pipeline.dataset.annotation_record import read_annotation
from pipeline.train.config import TrainConfig
from pipeline.train.stage_runner import StagePaths, run_training_stage
from stages._common import stage_setup


def main() -> None:
    cfg = TrainConfig.from_dict(stage_setup("train_gmm"))
    run_training_stage("gmm", cfg, StagePaths.for_stage("train_gmm"), annotation=read_annotation(cfg.dataset))


if __name__ == "__main__":
    main()
