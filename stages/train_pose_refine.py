"""Stage train_pose_refine: the keypoint refiner, trained on a data set's own poses (``python -m stages.train_pose_refine``)."""

from __future__ import annotations

from pipeline.annotate.parallel import WorkerInitError
from pipeline.annotate.pose import PoseConfig
from pipeline.train.data import DatasetLayoutError
from pipeline.train.pose_refine_config import PoseRefineTrainConfig
from pipeline.train.pose_refine_trainer import STAGE, train_pose_refiner
from pipeline.train.stage_runner import StagePaths
from stages._common import load_params, stage_setup


def main() -> None:
    """Read ``train_pose_refine:`` and the ``pose:`` settings our estimator runs with, train, write the model and metrics."""
    params = stage_setup("train_pose_refine")
    pose = {k: v for k, v in load_params("pose").items() if k not in ("workers", "min_shoulder_confidence")}
    try:
        cfg = PoseRefineTrainConfig.from_dict(params)
        pose_cfg = PoseConfig.from_dict(pose)
    except ValueError as exc:
        raise SystemExit(f"params: {exc}") from exc
    try:
        train_pose_refiner(cfg, pose_cfg, StagePaths.for_stage(STAGE))
    except (DatasetLayoutError, ValueError, WorkerInitError) as exc:
        raise SystemExit(f"train_pose_refine: {exc}") from exc


if __name__ == "__main__":
    main()
