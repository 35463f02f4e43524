"""Where the files of one pair live in the published try-on data sets: VITON, VITON-HD, Dress Code.

Each format is listed lazily as :class:`SourcePair` records (paths only, no pixels), so an
import of tens of thousands of pairs holds nothing but names in memory.

* ``viton`` (CP-VTON's release of VITON): ``<root>/<split>/{image,cloth,cloth-mask,image-parse,pose}``
  and ``<root>/<split>_pairs.txt`` (``X_0.jpg X_1.jpg``); LIP parse ids, OpenPose 1.0 COCO-18 JSON
  ``<stem>_keypoints.json``; cloth masks are greyscale JPEGs.
* ``vitonhd`` (VITON-HD / HR-VITON): ``<root>/<split>/{image,cloth,cloth-mask,image-parse-v3,openpose_json}``
  (nested, or one flat split); CIHP parse ids, BODY_25 JSON; agnostic folders are reused when present.
* ``dresscode``: ``<root>/<category>/{images,label_maps,keypoints}`` with per-category pairs files
  (``train_pairs.txt``, ``test_pairs_paired.txt``, or one ``pairs.txt``); the 18 labels are ATR's,
  keypoints are 18 COCO points ``[x, y, score, id]`` at 384x512 (half the 768x1024 photos).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.categories import CATEGORIES
from pipeline.dataset.layout import (
    AGNOSTIC,
    AGNOSTIC_MASK,
    PARSE_AGNOSTIC,
    POSE_IMG,
    category_name,
    first_existing,
    read_categories,
)

SourceFormat = Literal["viton", "vitonhd", "dresscode"]
FORMATS: tuple[str, ...] = ("viton", "vitonhd", "dresscode")
PoseKind = Literal["openpose", "dresscode"]
DRESSCODE_CATEGORIES = CATEGORIES  # Dress Code keeps one folder per category, named as the project names them
# Dress Code writes keypoints for 384x512 pictures of its 768x1024 photos.
DRESSCODE_KEYPOINT_WIDTH = 384
# Where each output split may come from, first existing wins (VITON-style releases call it val).
DEFAULT_SPLITS: dict[str, tuple[str, ...]] = {"train": ("train",), "test": ("test", "val")}
_DRESSCODE_PAIRS = {"train": ("train_pairs.txt",), "test": ("test_pairs_paired.txt", "test_pairs.txt", "pairs.txt")}


class SourceLayoutError(FileNotFoundError):
    """The source folder is not in the format it was said (or guessed) to be."""


@dataclass(frozen=True)
class SourcePair:
    """One person with their own garment in a source data set, by path."""

    split: str  # output split name (train / test)
    person: str  # person file name, e.g. 000003_0.jpg
    cloth: str  # garment file name, e.g. 000003_1.jpg
    category: str
    image: Path
    cloth_image: Path
    cloth_mask: Path | None  # None: the source has none, compute it
    parse: Path
    label_set: str  # lip | cihp | atr
    pose: Path
    pose_kind: PoseKind
    reuse: tuple[tuple[str, Path], ...] = ()  # (layout folder, source file) copied as they are

    @property
    def name(self) -> str:
        """``split/person`` (how skips and logs name it)."""
        return f"{self.split}/{self.person}"


def detect_format(root: Path) -> SourceFormat:
    """Guess the format of ``root`` from its folder names; raises :class:`SourceLayoutError`."""
    root = Path(root)
    if not root.is_dir():
        raise SourceLayoutError(f"import source {root} does not exist; set import_data.source to a data-set folder")
    bases = [root] + [p for p in sorted(root.iterdir()) if p.is_dir()]
    if any((b / "image-parse-v3").is_dir() for b in bases):
        return "vitonhd"
    if any((b / "image-parse").is_dir() and (b / "pose").is_dir() for b in bases):
        return "viton"
    if any((root / c / "images").is_dir() for c in DRESSCODE_CATEGORIES):
        return "dresscode"
    raise SourceLayoutError(
        f"{root} is none of the known layouts: VITON (<split>/image-parse, <split>/pose), "
        "VITON-HD (<split>/image-parse-v3) or Dress Code (<category>/images); set import_data.format"
    )


def _split_base(root: Path, names: tuple[str, ...]) -> tuple[str, Path] | None:
    for name in names:
        if (root / name / "image").is_dir():
            return name, root / name
    return None


def _pair_lines(path: Path) -> Iterator[tuple[str, str | None, str | None]]:
    """``(person, cloth or None, category or None)`` of each non-blank line."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if parts:
                yield parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None


def _stem(name: str) -> str:
    return Path(name).stem


def _viton_like(root: Path, fmt: SourceFormat, splits: dict[str, tuple[str, ...]], default_category: str) -> Iterator[SourcePair]:
    flat = (root / "image").is_dir()
    categories = read_categories(root)
    for out_split, candidates in splits.items():
        if flat:
            found = next(((c, root) for c in candidates if (root / f"{c}_pairs.txt").is_file()), None)
        else:
            found = _split_base(root, candidates)
        if found is None:
            continue
        name, base = found
        pairs_file = root / f"{name}_pairs.txt"
        if pairs_file.is_file():
            lines = _pair_lines(pairs_file)
        else:
            lines = ((p.name, None, None) for p in sorted((base / "image").iterdir()) if p.suffix.lower() in (".jpg", ".png"))
        seen: set[str] = set()
        for person, cloth, category in lines:
            if person in seen:
                continue
            seen.add(person)
            if fmt == "vitonhd":
                # VITON-HD's own garment has the person's name; its test_pairs.txt is unpaired.
                own = base / "cloth" / person
                cloth = person if own.is_file() or cloth is None else cloth
            cloth = cloth or person
            s, cs = _stem(person), _stem(cloth)
            if fmt == "viton":
                parse, label_set = base / "image-parse" / f"{s}.png", "lip"
                pose, cmask = base / "pose" / f"{s}_keypoints.json", first_existing(base / "cloth-mask" / cloth, base / "cloth-mask" / f"{cs}.png")
                reuse: tuple[tuple[str, Path], ...] = ()
            else:
                parse, label_set = base / "image-parse-v3" / f"{s}.png", "cihp"
                pose = base / "openpose_json" / f"{s}_keypoints.json"
                cmask = first_existing(base / "cloth-mask" / f"{cs}.jpg", base / "cloth-mask" / f"{cs}.png")
                candidates_reuse = ((AGNOSTIC, base / AGNOSTIC / f"{s}.jpg"), (AGNOSTIC_MASK, base / AGNOSTIC_MASK / f"{s}_mask.png"),
                                    (PARSE_AGNOSTIC, base / PARSE_AGNOSTIC / f"{s}.png"), (POSE_IMG, base / POSE_IMG / f"{s}_rendered.png"))
                reuse = tuple((f, p) for f, p in candidates_reuse if p.is_file())
            category = category or categories.get(person)
            yield SourcePair(out_split, person, cloth, _category(category, default_category), base / "image" / person,
                             base / "cloth" / cloth, cmask if cmask.is_file() else None, parse, label_set, pose, "openpose", reuse)


def _category(value: str | None, default: str) -> str:
    return category_name(value) if value else default


def _dresscode(root: Path, splits: dict[str, tuple[str, ...]]) -> Iterator[SourcePair]:
    for out_split in splits:
        for category in DRESSCODE_CATEGORIES:
            base = root / category
            if not (base / "images").is_dir():
                continue
            pairs_file = next((base / n for n in _DRESSCODE_PAIRS.get(out_split, ()) if (base / n).is_file()), None)
            if pairs_file is None:
                continue
            seen: set[str] = set()
            for person, cloth, _ in _pair_lines(pairs_file):
                if person in seen:
                    continue
                seen.add(person)
                s = _stem(person)
                ident = s.rsplit("_", 1)[0]
                cloth = cloth or f"{ident}_1.jpg"
                yield SourcePair(out_split, person, cloth, category, base / "images" / person, base / "images" / cloth,
                                 None, base / "label_maps" / f"{ident}_4.png", "atr",
                                 base / "keypoints" / f"{ident}_2.json", "dresscode")


def list_pairs(
    root: str | Path,
    fmt: SourceFormat | Literal["auto"] = "auto",
    splits: dict[str, tuple[str, ...]] | None = None,
    default_category: str = "upper_body",
) -> Iterator[SourcePair]:
    """Every pair of the source, split by split (lazily); see the module docstring for the formats."""
    root = Path(root)
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown import format {fmt!r}; expected auto or one of {list(FORMATS)}")
    if not root.is_dir():
        raise SourceLayoutError(f"import source {root} does not exist; set import_data.source to a data-set folder")
    splits = splits or DEFAULT_SPLITS
    if fmt == "dresscode":
        yield from _dresscode(root, splits)
    else:
        yield from _viton_like(root, fmt, splits, default_category)
