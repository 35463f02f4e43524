"""DVC stage ``agnostic``: agnostic images, masks and parse agnostics of persons, masks of garments."""

from __future__ import annotations

from pathlib import Path

from pipeline.annotate.agnostic import AgnosticConfig
from pipeline.annotate.agnostic_job import AgnosticJob, ClothMaskJob
from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.annotate.job_io import list_images
from pipeline.annotate.parallel import WorkerInitError, run_and_record
from pipeline.dataset.layout import AGNOSTIC, AGNOSTIC_MASK, CLOTH, CLOTH_MASK, PARSE_AGNOSTIC, SPLITS, read_categories
from pipeline.io.atomic import atomic_dir
from pipeline.stage_metrics import StageMetrics
from stages._common import stage_setup

AUGMENT = Path("data/augment")
PARSE = Path("data/parse")
POSE = Path("data/pose")
OUT_DIR = Path("data/agnostic")
METRICS = Path("metrics/agnostic.json")


def main() -> None:
    """Read ``agnostic:`` params, write ``data/agnostic`` and ``metrics/agnostic.json``."""
    params = dict(stage_setup("agnostic") or {})
    workers = int(params.pop("workers", 1))
    try:
        mask_config = ClothMaskConfig.from_dict(params.pop("cloth_mask", None))
        config = AgnosticConfig.from_dict(params)
    except ValueError as exc:
        raise SystemExit(f"params 'agnostic:' block: {exc}") from exc
    persons = list_images(AUGMENT, SPLITS)
    cloths = list_images(AUGMENT, SPLITS, CLOTH)
    metrics = StageMetrics("agnostic")
    cloth_metrics = StageMetrics("agnostic.cloth_mask")
    with atomic_dir(OUT_DIR) as tmp:
        for split in SPLITS:
            for folder in (AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC, CLOTH_MASK):
                (tmp / split / folder).mkdir(parents=True, exist_ok=True)
        try:
            # Each person is greyed for the category of the garment paired with them (augment's pairs.csv).
            job = AgnosticJob(config, AUGMENT, PARSE, POSE, tmp, categories=read_categories(AUGMENT))
            run_and_record(persons, job, metrics, workers, desc="agnostic")
            run_and_record(cloths, ClothMaskJob(mask_config, tmp), cloth_metrics, workers, desc="cloth-mask")
        except WorkerInitError as exc:
            raise SystemExit(f"agnostic: {exc}") from exc
    cloth = cloth_metrics.to_dict()
    cloth.pop("seconds", None)
    metrics.extra.update(workers=workers, cloth_mask=cloth)
    metrics.write(METRICS)


if __name__ == "__main__":
    main()
