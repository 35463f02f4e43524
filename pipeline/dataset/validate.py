"""Check that a folder is a complete, readable VITON-HD-layout data set.

Every expected file must exist and decode; images of one person share the
size of ``image/<stem>.jpg``; label maps are single-channel with ids 0..19;
masks are black/white; pose JSON holds one person with 25x3 (BODY_25) or 18x3
(COCO) keypoints; every pair names an existing person and garment. The report
gives coverage per folder (present / expected) and each problem with its file.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.dataset.layout import (
    CLOTH,
    FOLDERS,
    IMAGE,
    OPTIONAL_FOLDERS,
    REQUIRED_FOLDERS,
    PairsFormatError,
    SplitLocation,
    locate_splits,
    read_pairs,
    stem,
)
from pipeline.log import get_logger

log = get_logger(__name__)

NUM_LABELS = 20
_KEYPOINT_COUNTS = {75: "BODY_25", 54: "COCO-18"}
# A JPEG-stored mask has some grey at its edges; more than this share of mid greys is not a mask.
_MAX_MID_GREY = 0.05


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data set."""

    split: str
    folder: str
    name: str
    message: str

    def __str__(self) -> str:
        where = "/".join(p for p in (self.split, self.folder, self.name) if p)
        return f"{where}: {self.message}"


@dataclass
class ValidationReport:
    """Coverage per split and folder, and the problems found."""

    root: Path
    form: str
    coverage: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # reported, but the data set is still ok

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def problem_counts(self) -> Counter[str]:
        """Number of problems per ``split/folder``."""
        return Counter(f"{p.split}/{p.folder}" for p in self.problems)

    def format(self, max_problems: int = 50) -> str:
        """Human-readable summary: a coverage table, then the problems (at most ``max_problems``)."""
        lines = [f"{self.root} ({self.form} VITON-HD layout)"]
        for split, folders in self.coverage.items():
            lines.append(f"  {split}: {self.pairs.get(split, 0)} pairs")
            for name, (present, expected) in folders.items():
                pct = 100.0 * present / expected if expected else 100.0
                lines.append(f"    {name:<28} {present:>7} / {expected:<7} {pct:6.1f}%")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s) (folders training does not read):")
            lines.extend(f"  {p}" for p in self.warnings[:max_problems])
            if len(self.warnings) > max_problems:
                lines.append(f"  ... and {len(self.warnings) - max_problems} more")
        if self.ok:
            lines.append("OK: no problems found")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines.extend(f"  {p}" for p in self.problems[:max_problems])
            if len(self.problems) > max_problems:
                lines.append(f"  ... and {len(self.problems) - max_problems} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class _FileCheck:
    split: str
    folder: str
    path: Path
    expected_size: tuple[int, int] | None


def validate_dataset(
    root: str | Path,
    required: tuple[str, ...] = REQUIRED_FOLDERS,
    check_content: bool = True,
    workers: int = 4,
    progress: bool = True,
    warn_only: tuple[str, ...] = (),
) -> ValidationReport:
    """Validate the data set at ``root`` (nested train/test form or a flat single split).

    ``required`` folders must exist and be complete; the optional ones
    (densepose, warped-cloth masks) are checked only when present. Anything wrong
    with a ``warn_only`` folder (missing, incomplete, unreadable) is a warning, not a
    problem. With ``check_content=False`` only presence and pairs are checked (fast).
    """
    root = Path(root)
    try:
        form, splits = locate_splits(root)
    except FileNotFoundError as exc:
        return ValidationReport(root=root, form="unknown", problems=[Problem("", "", "", str(exc))])
    report = ValidationReport(root=root, form=form)
    checks: list[_FileCheck] = []
    seen_roots: set[Path] = set()
    for loc in splits:
        checks.extend(_check_split(loc, required, report, count_files=loc.folder_root not in seen_roots,
                                   warn_only=warn_only))
        seen_roots.add(loc.folder_root)
    if check_content and checks:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(_check_file, checks)
            for problem in tqdm(results, total=len(checks), desc="validate", unit="file", disable=not progress):
                if problem is not None:
                    (report.warnings if problem.folder in warn_only else report.problems).append(problem)
    log.info("validated", root=str(root), form=form, files=len(checks), problems=len(report.problems))
    return report


def _check_split(
    loc: SplitLocation, required: tuple[str, ...], report: ValidationReport, count_files: bool,
    warn_only: tuple[str, ...] = (),
) -> list[_FileCheck]:
    """Presence, coverage and pairs of one split; returns the per-file content checks to run."""
    split, base = loc.split, loc.folder_root
    problems = report.problems

    def listing(folder: str) -> dict[str, Path]:
        spec = FOLDERS[folder]
        out = {}
        d = base / folder
        if d.is_dir():
            for p in d.iterdir():
                s = spec.stem_of(p.name)
                if s is not None and p.is_file():
                    out[s] = p
        return out

    images = listing(IMAGE)
    cloths = listing(CLOTH)
    pairs: list[tuple[str, str]] = []
    if loc.pairs is None or not loc.pairs.is_file():
        problems.append(Problem(split, "", loc.pairs.name if loc.pairs else f"{split}_pairs.txt", "pairs file missing"))
    else:
        try:
            pairs = read_pairs(loc.pairs)
        except (PairsFormatError, UnicodeDecodeError) as exc:
            problems.append(Problem(split, "", loc.pairs.name, f"unreadable pairs file: {exc}"))
        if not pairs and loc.pairs.is_file() and not any(p.name == loc.pairs.name for p in problems):
            problems.append(Problem(split, "", loc.pairs.name, "pairs file is empty"))
    report.pairs[split] = len(pairs)
    for person, cloth in pairs:
        if stem(person) not in images:
            problems.append(Problem(split, IMAGE, person, f"pair ({person}, {cloth}) names a missing person image"))
        if stem(cloth) not in cloths:
            problems.append(Problem(split, CLOTH, cloth, f"pair ({person}, {cloth}) names a missing garment"))

    person_stems = sorted(set(images) | {stem(p) for p, _ in pairs})
    cloth_stems = sorted(set(cloths) | {stem(c) for _, c in pairs})
    sizes = {s: _image_size(p) for s, p in images.items()}
    common = Counter(v for v in sizes.values() if v is not None).most_common(1)
    data_size = common[0][0] if common else None

    checks: list[_FileCheck] = []
    coverage: dict[str, tuple[int, int]] = {}
    folders = list(required) + [f for f in OPTIONAL_FOLDERS if f not in required and (base / f).is_dir()]
    folders += [f for f in warn_only if f not in folders]
    for folder in folders:
        spec = FOLDERS[folder]
        stems = person_stems if spec.keyed_by == "person" else cloth_stems
        present = listing(folder)
        coverage[folder] = (sum(1 for s in stems if s in present), len(stems))
        found = report.warnings if folder in warn_only else problems
        if not (base / folder).is_dir():
            found.append(Problem(split, folder, "", "folder missing"))
            continue
        missing = [s for s in stems if s not in present]
        for s in missing:
            found.append(Problem(split, folder, spec.file_name(s), "file missing"))
        if not count_files:
            continue
        for s in stems:
            if s not in present:
                continue
            if folder == IMAGE:
                size = sizes.get(s)
                if size is None:
                    problems.append(Problem(split, folder, present[s].name, "unreadable image"))
                    continue
                if data_size is not None and size != data_size:
                    problems.append(
                        Problem(split, folder, present[s].name, f"size {size[0]}x{size[1]} differs from the data set's {data_size[0]}x{data_size[1]}")
                    )
            expected = sizes.get(s) if spec.keyed_by == "person" else data_size
            checks.append(_FileCheck(split, folder, present[s], expected))
    report.coverage[split] = coverage
    return checks


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, SyntaxError):
        return None


def _check_file(check: _FileCheck) -> Problem | None:
    """Decode one file and check it against its folder's rules; None when fine."""
    spec = FOLDERS[check.folder]

    def problem(message: str) -> Problem:
        return Problem(check.split, check.folder, check.path.name, message)

    if spec.kind == "pose":
        return _check_pose(check.path, check.expected_size, problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(check.path) as img:
                img.load()
                mode, size = img.mode, img.size
                arr = np.asarray(img.convert("L") if spec.kind == "mask" else img)
    except (OSError, ValueError, SyntaxError) as exc:
        return problem(f"unreadable: {exc}")
    if check.expected_size is not None and size != check.expected_size:
        return problem(f"size {size[0]}x{size[1]} does not match the image's {check.expected_size[0]}x{check.expected_size[1]}")
    if spec.kind == "labels":
        if mode not in ("P", "L"):
            return problem(f"label map must be single-channel (P or L), got {mode}")
        top = int(arr.max()) if arr.size else 0
        if top >= NUM_LABELS:
            return problem(f"label {top} out of range 0..{NUM_LABELS - 1}")
    elif spec.kind == "mask":
        mid = float(((arr > 63) & (arr < 192)).mean())
        if mid > _MAX_MID_GREY:
            return problem(f"not a black/white mask ({mid:.1%} mid-grey pixels)")
    elif mode not in ("RGB", "L"):
        return problem(f"expected an RGB image, got mode {mode}")
    return None


def _check_pose(path: Path, size: tuple[int, int] | None, problem) -> Problem | None:  # type: ignore[no-untyped-def]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(f"unreadable JSON: {exc}")
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list) or not people:
        return problem("no 'people' entry")
    person = people[0]
    if not isinstance(person, dict):
        return problem("'people[0]' is not an object")
    kps = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
    if not isinstance(kps, list) or len(kps) not in _KEYPOINT_COUNTS:
        n = len(kps) if isinstance(kps, list) else "no"
        return problem(f"pose_keypoints_2d has {n} values; expected 75 (BODY_25 25x3) or 54 (COCO 18x3)")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in kps):
        return problem("pose keypoints contain non-numbers")
    if size is not None:
        pts = np.asarray(kps, dtype=np.float64).reshape(-1, 3)
        seen = pts[pts[:, 2] > 0]
        w, h = size
        # Keypoints a little outside the frame are normal (cut-off limbs); far outside means wrong scale.
        if seen.size and ((seen[:, 0] < -0.5 * w) | (seen[:, 0] > 1.5 * w) | (seen[:, 1] < -0.5 * h) | (seen[:, 1] > 1.5 * h)).any():
            return problem(f"keypoints far outside the {w}x{h} image (wrong scale?)")
    return None
