"""DVC stage ``import_data``: bring an annotated data set (VITON, VITON-HD, Dress Code, or the demo's own) into ``data/import_data``."""

from __future__ import annotations

from pathlib import Path

from pipeline.annotate.agnostic import AgnosticConfig
from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.annotate.parallel import WorkerInitError
from pipeline.dataset.importer import ImportConfig, import_dataset
from pipeline.dataset.source_formats import SourceLayoutError
from pipeline.io.atomic import atomic_dir
from stages._common import load_params, stage_setup

OUT_DIR = Path("data/import_data")
METRICS = Path("metrics/import_data.json")


def main() -> None:
    """Read ``import_data:`` (and the ``agnostic``, ``parse``, ``pose`` blocks it reuses), write the data set and metrics."""
    params = stage_setup("import_data")
    agnostic = dict(load_params("agnostic"))
    agnostic.pop("workers", None)
    try:
        config = ImportConfig.from_dict(params)
        mask_config = ClothMaskConfig.from_dict(agnostic.pop("cloth_mask", None))
        agnostic_config = AgnosticConfig.from_dict(agnostic)
    except ValueError as exc:
        raise SystemExit(f"params: {exc}") from exc
    parse = {k: v for k, v in load_params("parse").items() if k != "workers"}
    pose = {k: v for k, v in load_params("pose").items() if k not in ("workers", "min_shoulder_confidence")}
    try:
        with atomic_dir(OUT_DIR) as tmp:
            report = import_dataset(config, tmp, agnostic_config, mask_config, parse, pose)
    except (SourceLayoutError, WorkerInitError) as exc:
        raise SystemExit(f"import_data: {exc}") from exc
    report.metrics.extra.update(source=config.source, reannotate=config.reannotate)
    report.metrics.write(METRICS)


if __name__ == "__main__":
    main()
