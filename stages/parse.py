"""DVC stage ``parse``: CIHP human parsing of every person image (data/augment -> data/parse)."""

from __future__ import annotations

from pathlib import Path

from pipeline.annotate.job_io import list_images
from pipeline.annotate.parallel import WorkerInitError, run_and_record
from pipeline.annotate.parse.builder import parser_name
from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse_job import ParseJob
from pipeline.dataset.layout import PARSE, SPLITS
from pipeline.io.atomic import atomic_dir
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

AUGMENT = Path("data/augment")
OUT_DIR = Path("data/parse")
METRICS = Path("metrics/parse.json")


def main() -> None:
    """Read ``parse:`` params, parse ``data/augment/<split>/image``, write outs and metrics."""
    params = dict(stage_setup("parse") or {})
    workers = int(params.pop("workers", 1))
    try:
        config = ParseConfig.from_dict(params)
    except ValueError as exc:
        raise SystemExit(f"params 'parse:' block: {exc}") from exc
    items = list_images(AUGMENT, SPLITS)
    metrics = StageMetrics("parse")
    metrics.extra["workers"] = workers
    with atomic_dir(OUT_DIR) as tmp:
        for split in SPLITS:
            (tmp / split / PARSE).mkdir(parents=True, exist_ok=True)
        try:
            run_and_record(items, ParseJob(config, tmp), metrics, workers, desc="parse")
        except WorkerInitError as exc:
            raise SystemExit(f"parse: {exc}") from exc
    metrics.extra["parser"] = parser_name(config)  # a changed model file shows in `dvc metrics diff`
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
