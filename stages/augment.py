"""DVC stage ``augment``: fit pairs to the dataset resolution, add seeded training variants."""

from __future__ import annotations

from pipeline.augment import AugmentConfig, augment_pairs
from pipeline.io.atomic import atomic_dir
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

PAIRS = "data/classify/pairs.csv"
OUT_DIR = "data/augment"
METRICS = "metrics/augment.json"


def main() -> None:
    """Read ``augment:`` params, write ``data/augment`` and ``metrics/augment.json``."""
    try:
        cfg = AugmentConfig.from_dict(stage_setup("augment"))
    except ValueError as exc:
        raise SystemExit(f"params.yaml: {exc}") from exc
    metrics = StageMetrics("augment")
    try:
        with atomic_dir(OUT_DIR) as tmp:
            augment_pairs(PAIRS, tmp, cfg, root=".", metrics=metrics)
    except (FileNotFoundError, ValueError) as exc:
        # Missing inputs or models and malformed tables: one clear sentence, no traceback.
        raise SystemExit(f"augment: {exc}") from exc
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
