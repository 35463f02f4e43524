"""Classify every picture of a folder: what `vton classify DIR` prints or writes as CSV."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.classify.config import ClassifyConfig
from pipeline.classify.verdict import REJECTED, ImageClassifier, Verdict
from pipeline.io.images import ImageLimits, ImageRejected, list_pictures, load_image, to_rgb_array
from pipeline.log import get_logger

log = get_logger(__name__)

COLUMNS = ("file", "label", "reason", "category", "category_source", "scores")


@dataclass
class FolderReport:
    """One row per picture (``COLUMNS``) and the label counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """``N pictures: a person, b garment, c rejected``."""
        parts = ", ".join(f"{n} {label}" for label, n in sorted(self.labels.items()))
        return f"{len(self.rows)} pictures: {parts or 'none'}"


def _row(path: Path, root: Path, verdict: Verdict, detail: str = "") -> dict[str, Any]:
    scores = ";".join(f"{k}={v}" for k, v in verdict.scores.items())
    return {"file": path.relative_to(root).as_posix(), "label": verdict.label,
            "reason": verdict.reason + (f" ({detail})" if detail else ""), "category": verdict.category,
            "category_source": verdict.category_source, "scores": scores}


def classify_folder(folder: Path, cfg: ClassifyConfig, recursive: bool = False,
                    limits: ImageLimits = ImageLimits()) -> FolderReport:
    """Label each picture of ``folder`` person, garment or rejected; an unreadable file is a rejected row."""
    report = FolderReport()
    files = list_pictures(folder, recursive)
    with ImageClassifier(cfg) as clf:
        for path in tqdm(files, desc="classify", unit="img", mininterval=2.0):
            detail = ""
            try:
                img = load_image(path, limits)
                verdict = clf.classify(to_rgb_array(img), (path.stem,))
            except ImageRejected as exc:
                verdict, detail = Verdict(REJECTED, "unreadable"), exc.reason
            except Exception as exc:  # noqa: BLE001 - one odd picture must not stop the folder
                log.error("classify failed", item=str(path), exc_info=True)
                verdict, detail = Verdict(REJECTED, "classify_error"), f"{type(exc).__name__}: {exc}"[:200]
            report.labels[verdict.label] += 1
            report.rows.append(_row(path, folder, verdict, detail))
    return report


def write_csv(report: FolderReport, out: Path) -> None:
    """The rows as CSV with a header (``COLUMNS``), written atomically."""
    from pipeline.io.atomic import atomic_file

    with atomic_file(out) as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report.rows)
