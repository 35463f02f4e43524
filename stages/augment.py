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
    cfg = AugmentConfig.from_dict(stage_setup("augment"))
    metrics = StageMetrics("augment")
    with atomic_dir(OUT_DIR) as tmp:
        augment_pairs(PAIRS, tmp, cfg, root=".", metrics=metrics)
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
