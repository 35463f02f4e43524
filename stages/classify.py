"""DVC stage ``classify``: label scraped images, pair persons with garments, split by product."""

from __future__ import annotations

from pipeline.classify import ClassifyConfig, classify_manifest
from pipeline.io.atomic import atomic_dir
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

MANIFEST = "data/scrape/manifest.csv"
OUT_DIR = "data/classify"
METRICS = "metrics/classify.json"


def main() -> None:
    """Read ``classify:`` params, classify the scrape manifest, write outs and metrics."""
    try:
        cfg = ClassifyConfig.from_dict(stage_setup("classify"))
    except ValueError as exc:
        raise SystemExit(f"params.yaml: {exc}") from exc
    metrics = StageMetrics("classify")
    try:
        with atomic_dir(OUT_DIR) as tmp:
            classify_manifest(MANIFEST, tmp, cfg, root=".", metrics=metrics)
    except (FileNotFoundError, ValueError) as exc:
        # Missing inputs or models and malformed tables: one clear sentence, no traceback.
        raise SystemExit(f"classify: {exc}") from exc
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
