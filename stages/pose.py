"""DVC stage ``pose``: OpenPose BODY_25 keypoints of every person image (data/augment -> data/pose)."""

from __future__ import annotations

from pathlib import Path

from pipeline.annotate.job_io import list_images
from pipeline.annotate.parallel import WorkerInitError, run_and_record
from pipeline.annotate.pose import PoseConfig
from pipeline.annotate.pose_job import PoseJob
from pipeline.dataset.layout import POSE_IMG, POSE_JSON, SPLITS
from pipeline.io.atomic import atomic_dir
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

AUGMENT = Path("data/augment")
PARSE = Path("data/parse")
OUT_DIR = Path("data/pose")
METRICS = Path("metrics/pose.json")


def main() -> None:
    """Read ``pose:`` params, estimate poses for ``data/augment/<split>/image``, write outs and metrics."""
    params = dict(stage_setup("pose") or {})
    workers = int(params.pop("workers", 1))
    min_shoulder_confidence = float(params.pop("min_shoulder_confidence", 0.5))
    try:
        config = PoseConfig.from_dict(params)
    except ValueError as exc:
        raise SystemExit(f"params 'pose:' block: {exc}") from exc
    items = list_images(AUGMENT, SPLITS)
    metrics = StageMetrics("pose")
    metrics.extra["workers"] = workers
    # The parse stage's maps refine the hips (pose.hem_pull_*); a missing parse output is an
    # error rather than a quiet switch to unrefined hips, which would change the data set unseen.
    refine = config.hem_pull_down > 0 or config.hem_pull_up > 0
    if refine and not PARSE.is_dir():
        raise SystemExit(
            f"pose: hip refinement needs the parse stage's maps in {PARSE}; run `dvc repro parse` first "
            "or set pose.hem_pull_down and pose.hem_pull_up to 0."
        )
    parse_root = PARSE if refine else None
    metrics.extra["hips_refined_with_parse"] = refine
    with atomic_dir(OUT_DIR) as tmp:
        for split in SPLITS:
            for folder in (POSE_JSON, POSE_IMG):
                (tmp / split / folder).mkdir(parents=True, exist_ok=True)
        try:
            run_and_record(items, PoseJob(config, tmp, min_shoulder_confidence, parse_root), metrics, workers, desc="pose")
        except WorkerInitError as exc:
            raise SystemExit(f"pose: {exc}") from exc
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
