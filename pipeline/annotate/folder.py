"""Annotate anyone's photos into a complete VITON-HD / HR-VITON layout folder (``vton annotate``).

The same per-image jobs as the DVC stages run here, in this order: garment masks (the
category of a garment can come from its outline), human parse, pose, then the agnostic
image, mask and parse for the category of the garment each person is paired with. Every
picture that cannot be used is listed with its step and reason in ``failures.csv``; the
others are written. Each step skips the pictures whose files it already wrote, so a second
run on the same input does only what is missing (or retries what failed).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipeline.annotate.agnostic import AgnosticConfig
from pipeline.annotate.agnostic_job import AgnosticJob, ClothMaskJob
from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.annotate.job_io import ImageItem
from pipeline.annotate.parallel import ItemResult, run_items
from pipeline.annotate.parse_job import ParseJob
from pipeline.annotate.pose_job import PoseJob
from pipeline.categories import CATEGORIES, UPPER_BODY, check_category
from pipeline.dataset.layout import (AGNOSTIC, AGNOSTIC_MASK, CLOTH, CLOTH_MASK, IMAGE, PARSE, PARSE_AGNOSTIC, POSE_IMG,
                                     POSE_JSON, category_name, file_path, pairs_file,
                                     parse_category_pairs)
from pipeline.io.atomic import atomic_file
from pipeline.io.images import ImageLimits, ImageRejected, encode_jpeg, load_image
from pipeline.log import get_logger

log = get_logger(__name__)

_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
_LIMITS = ImageLimits(min_side=64)


@dataclass(frozen=True)
class AnnotateConfig:
    """What to annotate and how; the nested dicts are the ``parse:``, ``pose:`` and ``agnostic:`` params blocks."""

    persons: Path
    out: Path
    garments: Path | None = None
    pairs: Path | None = None  # "person garment [category]" per line; default: persons and garments by sorted order
    categories: Path | None = None  # CSV "garment,category"; beats the outline, loses to the pairs file's column
    category: str | None = None  # one category for every garment (beats the outline)
    split: str = "test"
    size: tuple[int, int] = (1024, 768)  # (height, width) every picture is letterboxed to, as the augment stage does
    workers: int = 1
    parse: dict[str, Any] = field(default_factory=dict)
    pose: dict[str, Any] = field(default_factory=dict)
    agnostic: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.category is not None:
            check_category(self.category)
        if self.workers < 1:
            raise ValueError("workers must be at least 1")


@dataclass
class AnnotateReport:
    """Counts per step, the failures (file, step, reason, detail) and where the pairs file went."""

    written: dict[str, int] = field(default_factory=dict)
    reused: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)
    pairs: int = 0
    pairs_file: Path | None = None


def _pictures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)


def _copy_in(sources: Iterable[Path], target: Path, report: AnnotateReport, step: str, size: tuple[int, int],
             pad: str) -> dict[str, Path]:
    """Decode each picture once, letterbox it to ``size`` (a layout has one size) and write it as ``<stem>.jpg``
    (what the layout names); ``{source name: written}``."""
    from pipeline.augment.letterbox import letterbox

    target.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    for src in sources:
        out = target / f"{src.stem}.jpg"
        if out.is_file() and out.stat().st_mtime >= src.stat().st_mtime:
            done[src.name] = out
            report.reused[step] = report.reused.get(step, 0) + 1
            continue
        try:
            img = load_image(src, _LIMITS)
        except ImageRejected as exc:
            report.failures.append((src.name, step, exc.reason, exc.detail))
            continue
        boxed = letterbox(np.asarray(img), (size[1], size[0]), pad)  # type: ignore[arg-type]
        with atomic_file(out, "wb") as fh:
            fh.write(encode_jpeg(Image.fromarray(boxed)))
        done[src.name] = out
        report.written[step] = report.written.get(step, 0) + 1
    return done


def _run_step(step: str, items: list[ImageItem], job: Any, done: Any, report: AnnotateReport, workers: int,
              progress: bool, names: dict[str, str]) -> set[str]:
    """Run ``job`` on the items whose outputs ``done(item)`` does not find; return the stems that have them now."""
    todo = [it for it in items if not done(it)]
    report.reused[step] = len(items) - len(todo)
    ok = {it.stem for it in items if done(it)}
    for res in run_items(todo, job, workers=workers, desc=step, progress=progress):
        stem = Path(res.name.split("/", 1)[-1]).stem
        if res.ok:
            ok.add(stem)
            report.written[step] = report.written.get(step, 0) + 1
        else:
            report.failures.append((names.get(stem, f"{stem}.jpg"), step, res.reason, res.detail))
    return ok


def _pairs(cfg: AnnotateConfig, person_stems: list[str], garment_stems: list[str]) -> list[tuple[str, str, str | None]]:
    """(person stem, garment stem, category or None): the pairs file's lines, or the n-th person with the n-th garment."""
    if cfg.pairs is None:
        # As a shop's product photos pair up: sorted names, one garment per person.
        return [(p, g, None) for p, g in zip(sorted(person_stems), sorted(garment_stems))]
    rows = []
    for person, garment, category in parse_category_pairs(cfg.pairs.read_text(encoding="utf-8"), str(cfg.pairs)):
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"{cfg.pairs}: unknown category {category!r}; expected one of {list(CATEGORIES)}")
        rows.append((Path(person).stem, Path(garment).stem, category))
    return rows


def _read_category_table(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        table = {}
        for row in csv.reader(fh):
            if len(row) >= 2 and row[0] and row[0] != "garment":
                table[Path(row[0].strip()).stem] = check_category(category_name(row[1].strip()))
    return table


def _outline_category(mask_path: Path) -> str:
    from pipeline.classify.category import category_from_silhouette

    with Image.open(mask_path) as img:
        return category_from_silhouette(np.asarray(img.convert("L")) > 127)[0]


PERSON_FOLDERS = (IMAGE, PARSE, POSE_JSON, POSE_IMG, AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC)


def _remove_unfinished(base: Path, stems: set[str], folders: tuple[str, ...]) -> None:
    for stem in stems:
        for folder in folders:
            file_path(base, folder, stem).unlink(missing_ok=True)


def annotate_folder(cfg: AnnotateConfig) -> AnnotateReport:
    """Write the layout under ``cfg.out`` (see the module docstring) and return what happened."""
    from pipeline.annotate.parse import ParseConfig
    from pipeline.annotate.pose import PoseConfig

    report = AnnotateReport()
    base = cfg.out / cfg.split
    person_files = _pictures(cfg.persons)
    garment_files = _pictures(cfg.garments) if cfg.garments else []
    names = {p.stem: p.name for p in person_files + garment_files}  # failures name the user's own files
    # Padding as the augment stage pads: the photo's border colour for people, white for shop shots.
    persons = _copy_in(person_files, base / IMAGE, report, "image", cfg.size, "border")
    garments = _copy_in(garment_files, base / CLOTH, report, "cloth", cfg.size, "white")

    cloth_items = [ImageItem(cfg.split, p.stem, p) for p in garments.values()]
    masked = _run_step("cloth-mask", cloth_items, ClothMaskJob(ClothMaskConfig(), cfg.out),
                       lambda it: file_path(base, CLOTH_MASK, it.stem).is_file(), report, cfg.workers, cfg.progress, names)

    person_items = [ImageItem(cfg.split, p.stem, p) for p in persons.values()]
    parsed = _run_step("parse", person_items, ParseJob(ParseConfig.from_dict(cfg.parse), cfg.out),
                       lambda it: file_path(base, PARSE, it.stem).is_file(), report, cfg.workers, cfg.progress, names)
    posed = _run_step("pose", [it for it in person_items if it.stem in parsed],
                      PoseJob(PoseConfig.from_dict(cfg.pose), cfg.out),
                      lambda it: file_path(base, POSE_JSON, it.stem).is_file() and file_path(base, POSE_IMG, it.stem).is_file(),
                      report, cfg.workers, cfg.progress, names)

    table = _read_category_table(cfg.categories)
    lines: list[tuple[str, str, str]] = []
    person_category: dict[str, str] = {}
    given = {p.stem for p in person_files} | {g.stem for g in garment_files}
    for pstem, gstem, category in _pairs(cfg, [p.stem for p in person_files], [g.stem for g in garment_files]):
        missing = [s for s in (pstem, gstem) if s not in given]
        if missing:
            report.failures.append((names.get(missing[0], f"{missing[0]}.jpg"), "pairs", "missing_file",
                                    "named in the pairs file, not in the input folders"))
            continue
        if pstem not in posed or gstem not in masked:
            continue  # its failure is listed already
        chosen = (category or table.get(gstem) or cfg.category
                  or _outline_category(file_path(base, CLOTH_MASK, gstem)))
        # One agnostic per person: the first garment paired with them decides its category.
        person_category.setdefault(f"{pstem}.jpg", chosen)
        lines.append((f"{pstem}.jpg", f"{gstem}.jpg", chosen))

    def agnostic_done(it: ImageItem) -> bool:
        return all(file_path(base, f, it.stem).is_file() for f in (AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC))

    job = AgnosticJob(AgnosticConfig.from_dict(cfg.agnostic), cfg.out, cfg.out, cfg.out, cfg.out,
                      categories=person_category, default_category=cfg.category or UPPER_BODY)
    agnostic_ok = _run_step("agnostic", [it for it in person_items if it.stem in posed], job, agnostic_done, report,
                            cfg.workers, cfg.progress, names)
    lines = [line for line in lines if Path(line[0]).stem in agnostic_ok]
    # A picture that failed a step leaves no half-annotated files behind: the folder stays one a
    # validator accepts, and the next run tries the picture again from the start.
    _remove_unfinished(base, {it.stem for it in person_items} - agnostic_ok, PERSON_FOLDERS)
    _remove_unfinished(base, {it.stem for it in cloth_items} - masked, (CLOTH, CLOTH_MASK))
    if cfg.garments is not None:
        report.pairs_file = pairs_file(cfg.out, cfg.split)
        with atomic_file(report.pairs_file, "w") as fh:
            fh.writelines(f"{p} {g} {c}\n" for p, g, c in lines)
    report.pairs = len(lines)
    with atomic_file(cfg.out / "failures.csv", "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "step", "reason", "detail"])
        writer.writerows(report.failures)
    log.info("annotated", out=cfg.out, pairs=report.pairs, failures=len(report.failures),
             **{f"written_{k}": v for k, v in report.written.items()})
    return report
