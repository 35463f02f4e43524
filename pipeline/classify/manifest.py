"""Classify every image of a scrape manifest and write ``images.csv`` and ``pairs.csv``.

Images are read one at a time (memory stays flat whatever the catalogue size); only
a small record per image is kept for pairing.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.classify.config import ClassifyConfig
from pipeline.classify.pairs import ImageRecord, Pair, assign_splits, build_pairs
from pipeline.classify.verdict import GARMENT, PERSON, REJECTED, ImageClassifier, Verdict
from pipeline.io.csv_table import read_table
from pipeline.io.images import ImageLimits, ImageRejected, load_image, to_rgb_array
from pipeline.log import get_logger
from pipeline.stage_metrics import StageMetrics

log = get_logger(__name__)

REQUIRED_COLUMNS = ("source", "product_id", "path")
SCORE_COLUMNS = (
    "pose_found", "people", "person_selected", "shoulder_visibility", "hip_visibility", "shoulder_width",
    "hip_y", "border_uniformity", "foreground_fraction", "objects", "second_object_ratio",
)
IMAGE_COLUMNS = (
    "path", "source", "product_id", "category", "label", "reason", "detail", "category_source",
    *SCORE_COLUMNS, "width", "height",
)
PAIR_COLUMNS = ("pair_id", "source", "product_id", "category", "person_path", "garment_path", "split")


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a scrape manifest; a missing file or column is a clear error."""
    return read_table(path, REQUIRED_COLUMNS, "manifest", "scrape")


def _index(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def classify_manifest(
    manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: ClassifyConfig,
    root: str | os.PathLike[str] = ".",
    metrics: StageMetrics | None = None,
    limits: ImageLimits = ImageLimits(),
) -> StageMetrics:
    """Label each manifest image, pair persons with garments, split by product.

    ``out_dir`` receives ``images.csv`` and ``pairs.csv``; manifest paths are relative
    to ``root`` and are written back unchanged. Returns the filled ``metrics``.
    """
    metrics = metrics or StageMetrics("classify")
    root, out_dir = Path(root), Path(out_dir)
    image_rows: list[dict[str, Any]] = []
    records: list[ImageRecord] = []
    labels: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    with ImageClassifier(cfg) as clf:  # first, so a bad model setting fails before any work
        rows = read_manifest(Path(manifest))
        out_dir.mkdir(parents=True, exist_ok=True)
        for row in tqdm(rows, desc="classify", unit="img", mininterval=2.0):
            metrics.items_in += 1
            rel = row["path"]
            detail, width, height = "", 0, 0
            try:
                img = load_image(root / rel, limits)
                width, height = img.size
                verdict = clf.classify(to_rgb_array(img), (row.get("category"), row.get("product_name")))
                del img
            except ImageRejected as exc:
                verdict, detail = Verdict(REJECTED, "unreadable"), exc.reason
            except Exception as exc:  # noqa: BLE001 - one odd picture must not stop the catalogue
                log.error("classify failed", item=rel, exc_info=True)
                verdict, detail = Verdict(REJECTED, "classify_error"), f"{type(exc).__name__}: {exc}"[:200]
            labels[verdict.label] += 1
            if verdict.label == REJECTED:
                reasons[verdict.reason] += 1
                metrics.skip(verdict.reason, rel, detail)
            else:
                metrics.items_out += 1
                categories[f"{verdict.label}_{verdict.category or 'unknown'}"] += 1
            image_rows.append(
                {
                    "path": rel,
                    "source": row["source"],
                    "product_id": row["product_id"],
                    "category": verdict.category,
                    "label": verdict.label,
                    "reason": verdict.reason,
                    "detail": detail,
                    "category_source": verdict.category_source,
                    **{k: verdict.scores.get(k, "") for k in SCORE_COLUMNS},
                    "width": width,
                    "height": height,
                }
            )
            records.append(
                ImageRecord(rel, row["source"], row["product_id"], _index(row.get("image_index")), verdict.label, verdict.category)
            )

    pairs = assign_splits(build_pairs(records), cfg.test_fraction, cfg.seed)
    _fill_person_categories(image_rows, pairs)
    _write_csv(out_dir / "images.csv", IMAGE_COLUMNS, image_rows)
    _write_csv(out_dir / "pairs.csv", PAIR_COLUMNS, [asdict(p) for p in pairs])

    split_counts = Counter(p.split for p in pairs)
    metrics.extra.update(
        labels={k: labels.get(k, 0) for k in (PERSON, GARMENT, REJECTED)},
        rejected_by_reason=dict(sorted(reasons.items())),
        categories=dict(sorted(categories.items())),
        pairs=len(pairs),
        train_pairs=split_counts.get("train", 0),
        test_pairs=split_counts.get("test", 0),
        train_products=len({(p.source, p.product_id) for p in pairs if p.split == "train"}),
        test_products=len({(p.source, p.product_id) for p in pairs if p.split == "test"}),
        multi_person_images=sum(1 for r in image_rows if r["person_selected"] == "largest_face"),
    )
    if not pairs:
        log.warning("no pairs: no product has both a person photo and a garment shot", images=len(image_rows))
    log.info("classified", images=len(image_rows), pairs=len(pairs), **{k: labels.get(k, 0) for k in (PERSON, GARMENT, REJECTED)})
    return metrics


def _fill_person_categories(image_rows: list[dict[str, Any]], pairs: list[Pair]) -> None:
    """A person whose product named no category takes the category of the garment it wears."""
    by_person = {p.person_path: p.category for p in pairs}
    for row in image_rows:
        if row["label"] == PERSON and not row["category"] and by_person.get(row["path"]):
            row["category"] = by_person[row["path"]]
            row["category_source"] = "garment"


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
