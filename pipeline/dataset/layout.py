"""Folder and file names of the VITON-HD data set as released for HR-VITON.

``<root>/{train,test}/<folder>/<file>`` with ``<root>/{train,test}_pairs.txt``
(``person.jpg cloth.jpg`` per line). Person folders hold one file per person
image, cloth folders one per garment; the file name is the image stem plus a
folder-specific ending (``<stem>_keypoints.json``, ``<stem>_mask.png``, ...).
A flat copy of one split (``<root>/<folder>/...`` with the pairs file beside
the folders) is also accepted for reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SPLITS = ("train", "test")

IMAGE = "image"
CLOTH = "cloth"
CLOTH_MASK = "cloth-mask"
PARSE = "image-parse-v3"
PARSE_AGNOSTIC = "image-parse-agnostic-v3.2"
POSE_JSON = "openpose_json"
POSE_IMG = "openpose_img"
AGNOSTIC = "agnostic-v3.2"
AGNOSTIC_MASK = "agnostic-mask"
DENSEPOSE = "image-densepose"
GT_WARPED_MASK = "gt_cloth_warped_mask"

Keyed = Literal["person", "cloth"]
Kind = Literal["rgb", "mask", "labels", "pose"]


@dataclass(frozen=True)
class Folder:
    """One folder of the layout: whose files it holds, their ending, and what they contain."""

    name: str
    keyed_by: Keyed
    ending: str
    kind: Kind
    # Other endings readers accept (cloth masks come as JPEG in the releases, PNG when lossless).
    also: tuple[str, ...] = ()

    def file_name(self, stem: str) -> str:
        """The file name this folder uses (and the pipeline writes) for an image stem (``00000_00``)."""
        return f"{stem}{self.ending}"

    def stem_of(self, file_name: str) -> str | None:
        """The image stem of one of this folder's files, or None if the name does not fit."""
        for ending in (self.ending, *self.also):
            if file_name.endswith(ending) and len(file_name) > len(ending):
                return file_name[: -len(ending)]
        return None


FOLDERS: dict[str, Folder] = {
    f.name: f
    for f in (
        Folder(IMAGE, "person", ".jpg", "rgb"),
        Folder(CLOTH, "cloth", ".jpg", "rgb"),
        Folder(CLOTH_MASK, "cloth", ".jpg", "mask", also=(".png",)),
        Folder(PARSE, "person", ".png", "labels"),
        Folder(PARSE_AGNOSTIC, "person", ".png", "labels"),
        Folder(POSE_JSON, "person", "_keypoints.json", "pose"),
        Folder(POSE_IMG, "person", "_rendered.png", "rgb"),
        Folder(AGNOSTIC, "person", ".jpg", "rgb"),
        Folder(AGNOSTIC_MASK, "person", "_mask.png", "mask"),
        Folder(DENSEPOSE, "person", ".jpg", "rgb"),
        Folder(GT_WARPED_MASK, "cloth", ".jpg", "mask"),
    )
}

# What the dataset stage writes (contract item 7); the last two only appear in some releases.
REQUIRED_FOLDERS = (IMAGE, CLOTH, CLOTH_MASK, PARSE, POSE_JSON, POSE_IMG, AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC)
OPTIONAL_FOLDERS = (DENSEPOSE, GT_WARPED_MASK)
# Folders the release has but training never reads: for a folder meant only for training
# (``vton validate --training``) their absence is a warning, not an error.
TRAINING_UNUSED_FOLDERS = (POSE_IMG, AGNOSTIC_MASK)


# Dress Code writes the garment category as an integer third column of its pairs files.
DRESSCODE_CATEGORY_IDS = {"0": "upper_body", "1": "lower_body", "2": "dresses"}


def category_name(value: str) -> str:
    """A pairs file's category column as the project's name (Dress Code ids mapped, names kept)."""
    return DRESSCODE_CATEGORY_IDS.get(value, value)


def read_categories(root: str | Path) -> dict[str, str]:
    """Garment category per image name from ``<root>/pairs.csv`` (the project's ``name,...,category`` table)."""
    import csv

    path = Path(root) / "pairs.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {r["name"]: r["category"] for r in csv.DictReader(fh) if r.get("name") and r.get("category")}


def first_existing(*candidates: Path) -> Path:
    """The first of ``candidates`` that exists, else the first (so a missing file is named as expected)."""
    for path in candidates:
        if path.exists():
            return path
    return candidates[0]


def stem(file_name: str) -> str:
    """``00000_00.jpg`` -> ``00000_00``."""
    return Path(file_name).stem


def file_path(split_root: str | Path, folder: str, image_stem: str) -> Path:
    """Path of ``folder``'s file for ``image_stem`` inside one split folder."""
    return Path(split_root) / folder / FOLDERS[folder].file_name(image_stem)


def pairs_file(root: str | Path, split: str) -> Path:
    """``<root>/<split>_pairs.txt``."""
    return Path(root) / f"{split}_pairs.txt"


class PairsFormatError(ValueError):
    """A pairs file line that is not ``person.jpg cloth.jpg [category]``."""


def parse_category_pairs(text: str, source: str = "pairs file") -> list[tuple[str, str, str | None]]:
    """Read ``person cloth [category]`` lines (Dress Code ids mapped to names, see :func:`category_name`);
    blank lines skipped."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise PairsFormatError(f"{source} line {number}: expected 'person.jpg cloth.jpg', got {line!r}")
        pairs.append((parts[0], parts[1], category_name(parts[2]) if len(parts) == 3 else None))
    return pairs


def parse_pairs(text: str, source: str = "pairs file") -> list[tuple[str, str]]:
    """Read ``person cloth`` lines (a third DressCode category column is ignored); blank lines skipped."""
    return [(person, cloth) for person, cloth, _ in parse_category_pairs(text, source)]


def read_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read a pairs file (see :func:`parse_pairs`)."""
    path = Path(path)
    return parse_pairs(path.read_text(encoding="utf-8"), str(path))


def format_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs as file text, one ``person cloth`` line each."""
    return "".join(f"{person} {cloth}\n" for person, cloth in pairs)


@dataclass(frozen=True)
class SplitLocation:
    """Where one split's folders and pairs file are."""

    split: str
    folder_root: Path
    pairs: Path | None


def locate_splits(root: str | Path) -> tuple[str, list[SplitLocation]]:
    """Find the splits of a data set: ``("nested", ...)`` or ``("flat", ...)``.

    Nested: every ``<root>/<split>/`` folder, with ``<root>/<split>_pairs.txt``.
    Flat: ``<root>/image`` exists; one entry per ``*_pairs.txt`` in the root
    (named after it), or a single ``train`` entry without a pairs file.
    Raises FileNotFoundError when ``root`` holds neither.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    nested = [s for s in SPLITS if (root / s).is_dir()]
    if nested:
        return "nested", [SplitLocation(s, root / s, pairs_file(root, s)) for s in nested]
    if (root / IMAGE).is_dir():
        found = [SplitLocation(s, root, pairs_file(root, s)) for s in SPLITS if pairs_file(root, s).is_file()]
        return "flat", found or [SplitLocation("train", root, None)]
    raise FileNotFoundError(
        f"{root} is not in the VITON-HD layout: expected {root}/train/, {root}/test/ or a flat {root}/{IMAGE}/"
    )
