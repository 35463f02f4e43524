"""Assemble ``data/dataset`` in the VITON-HD layout from the annotation stages' outputs.

Each stage writes its own folder tree (augment: image, cloth; parse; pose;
agnostic: agnostic image, masks, parse agnostic, cloth mask). A pair enters
the data set only when every file of its person and its garment exists, so a
person that pose or parsing skipped never leaves a pair with a hole; such
pairs are counted as ``dropped_incomplete_pairs`` with the missing folders.
Files are hard-linked where the filesystem allows (no extra disk), else copied,
and the whole tree appears atomically.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipeline.dataset.annotation_record import write_provenance
from pipeline.dataset.layout import (
    AGNOSTIC,
    AGNOSTIC_MASK,
    CLOTH,
    CLOTH_MASK,
    FOLDERS,
    IMAGE,
    PARSE,
    PARSE_AGNOSTIC,
    POSE_IMG,
    POSE_JSON,
    REQUIRED_FOLDERS,
    SPLITS,
    file_path,
    format_pairs,
    pairs_file,
    read_pairs,
    stem,
)
from pipeline.dataset.validate import validate_dataset
from pipeline.io.atomic import atomic_dir
from pipeline.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class StageRoots:
    """Output roots of the stages the data set is built from (each holds ``<split>/<folder>/``)."""

    augment: Path = Path("data/augment")
    parse: Path = Path("data/parse")
    pose: Path = Path("data/pose")
    agnostic: Path = Path("data/agnostic")

    def root_for(self, folder: str) -> Path:
        """Which stage provides ``folder``."""
        return {
            IMAGE: self.augment,
            CLOTH: self.augment,
            PARSE: self.parse,
            POSE_JSON: self.pose,
            POSE_IMG: self.pose,
            AGNOSTIC: self.agnostic,
            AGNOSTIC_MASK: self.agnostic,
            PARSE_AGNOSTIC: self.agnostic,
            CLOTH_MASK: self.agnostic,
        }[folder]

    def source(self, split: str, folder: str, image_stem: str) -> Path:
        """Path of one input file."""
        return file_path(self.root_for(folder) / split, folder, image_stem)


@dataclass
class AssembleReport:
    """What went into the data set and what was dropped."""

    pairs_in: dict[str, int] = field(default_factory=dict)
    pairs_out: dict[str, int] = field(default_factory=dict)
    dropped_incomplete_pairs: int = 0
    missing_by_folder: Counter[str] = field(default_factory=Counter)
    dropped: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)
    linked: int = 0
    copied: int = 0

    def to_metrics(self) -> dict[str, Any]:
        """Flat-ish dict for ``metrics/dataset.json``."""
        return {
            "pairs_in": dict(self.pairs_in),
            "pairs_out": dict(self.pairs_out),
            "dropped_incomplete_pairs": self.dropped_incomplete_pairs,
            "missing_by_folder": dict(sorted(self.missing_by_folder.items())),
            "files_linked": self.linked,
            "files_copied": self.copied,
        }


class DatasetInvalid(ValueError):
    """The assembled data set failed validation; the message lists the problems."""


def assemble_dataset(
    roots: StageRoots,
    out_root: str | Path,
    splits: tuple[str, ...] = SPLITS,
    validate: bool = True,
    workers: int = 2,
    progress: bool = True,
) -> AssembleReport:
    """Build ``out_root`` (``<split>/<folder>/`` + ``<split>_pairs.txt``) from the stage outputs.

    Pairs come from the augment stage's ``<split>_pairs.txt``; a split without
    one, or left without any complete pair, is left out (and logged).
    ``pairs.csv`` (names and categories) is carried over for the kept pairs.
    With ``validate`` the result is checked by
    :func:`~pipeline.dataset.validate.validate_dataset` before it replaces the
    previous ``out_root``; :class:`DatasetInvalid` is raised on problems.
    """
    report = AssembleReport()
    with atomic_dir(out_root) as tmp:
        kept_names: set[str] = set()
        for split in splits:
            src_pairs = pairs_file(roots.augment, split)
            if not src_pairs.is_file():
                log.warning("no pairs file, split left out", split=split, path=str(src_pairs))
                continue
            pairs = read_pairs(src_pairs)
            report.pairs_in[split] = len(pairs)
            kept: list[tuple[str, str]] = []
            done: set[tuple[str, str]] = set()
            for person, cloth in tqdm(pairs, desc=f"dataset {split}", unit="pair", disable=not progress):
                needed = _files_of_pair(roots, split, stem(person), stem(cloth))
                missing = tuple(sorted({folder for folder, path in needed if not path.is_file()}))
                if missing:
                    report.dropped_incomplete_pairs += 1
                    report.missing_by_folder.update(missing)
                    report.dropped.append((split, person, cloth, missing))
                    log.warning("pair dropped: files missing", split=split, person=person, cloth=cloth, missing=",".join(missing))
                    continue
                for folder, src in needed:
                    key = (folder, src.name)
                    if key in done:
                        continue
                    done.add(key)
                    dst = tmp / split / folder / src.name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    if _link_or_copy(src, dst):
                        report.linked += 1
                    else:
                        report.copied += 1
                kept.append((person, cloth))
                kept_names.add(person)
            report.pairs_out[split] = len(kept)
            if not kept:
                log.warning("no complete pair, split left out", split=split, pairs_in=len(pairs))
                continue
            for folder in REQUIRED_FOLDERS:
                (tmp / split / folder).mkdir(parents=True, exist_ok=True)
            (tmp / pairs_file(tmp, split).name).write_text(format_pairs(kept), encoding="utf-8")
        _carry_pairs_csv(roots.augment / "pairs.csv", tmp / "pairs.csv", kept_names)
        write_provenance(tmp)
        if validate and any(report.pairs_out.values()):
            checked = validate_dataset(tmp, workers=workers, progress=progress)
            if not checked.ok:
                raise DatasetInvalid(checked.format(max_problems=30))
    log.info("dataset assembled", out=str(out_root), **{k: v for k, v in report.to_metrics().items() if not isinstance(v, dict)})
    return report


def _files_of_pair(roots: StageRoots, split: str, person: str, cloth: str) -> list[tuple[str, Path]]:
    return [
        (folder, roots.source(split, folder, person if FOLDERS[folder].keyed_by == "person" else cloth))
        for folder in REQUIRED_FOLDERS
    ]


def _link_or_copy(src: Path, dst: Path) -> bool:
    """Hard-link ``src`` to ``dst`` (True) or copy it when linking is impossible (False)."""
    try:
        os.link(src, dst)
        return True
    except OSError:
        shutil.copy2(src, dst)
        return False


def _carry_pairs_csv(src: Path, dst: Path, names: set[str]) -> None:
    """Copy the augment stage's ``pairs.csv`` rows of the kept person images."""
    if not src.is_file():
        return
    with src.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fieldnames = reader.fieldnames or []
        rows = [r for r in reader if r.get("name") in names]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    dst.write_text(buf.getvalue(), encoding="utf-8")
