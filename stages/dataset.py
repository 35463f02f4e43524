"""DVC stage ``dataset``: assemble ``data/dataset`` in the VITON-HD layout and validate it."""

from __future__ import annotations

from pathlib import Path

from pipeline.dataset.assemble import DatasetInvalid, StageRoots, assemble_dataset
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

OUT_DIR = Path("data/dataset")
METRICS = Path("metrics/dataset.json")
_KEYS = {"workers", "validate"}


def main() -> None:
    """Read ``dataset:`` params, link the stage outputs into ``data/dataset``, write metrics."""
    params = dict(stage_setup("dataset") or {})
    unknown = sorted(set(params) - _KEYS)
    if unknown:
        raise SystemExit(f"params 'dataset:' block: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    metrics = StageMetrics("dataset")
    try:
        report = assemble_dataset(
            StageRoots(), OUT_DIR, validate=bool(params.get("validate", True)), workers=int(params.get("workers", 2))
        )
    except DatasetInvalid as exc:
        raise SystemExit(f"dataset: the assembled data set is not valid, nothing written:\n{exc}") from exc
    metrics.items_in = sum(report.pairs_in.values())
    metrics.items_out = sum(report.pairs_out.values())
    if report.dropped_incomplete_pairs:
        metrics.skipped["incomplete_pair"] = report.dropped_incomplete_pairs
    metrics.extra.update(report.to_metrics())
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
