"""Read a try-on data set in the VITON-HD layout (as released for HR-VITON) into training tensors.

Two on-disk forms are accepted:

* nested, as VITON-HD and ``data/dataset`` ship it: ``<root>/{train,test}/<folder>/...``
  with ``<root>/{train,test}_pairs.txt``;
* flat, a single split: ``<root>/<folder>/...`` with an optional ``<root>/<split>_pairs.txt``
  (``/work/shared/data/vitonhd_train16`` is one).

Folders read: ``image``, ``cloth``, ``cloth-mask``, ``image-parse-v3``, ``openpose_json``,
``agnostic-v3.2``, ``image-parse-agnostic-v3.2`` and, for the try-on module, the
``warped-cloth``/``warped-mask`` folders the warp stage writes.

Every pair is checked when the data set is built; a pair with a missing or
unreadable file is logged and counted in :attr:`VitonDataset.skipped`, so an
epoch never dies on a bad file halfway.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from pipeline.dataset.layout import category_name, first_existing, read_categories
from pipeline.log import get_logger
from pipeline.models.background_fill import hidden_area
from pipeline.models.repaint import tryon_region
from pipeline.train.parse_groups import WORN_LABELS, group_onehot, worn_mask
from pipeline.train.pose_maps import PoseFileError, PoseFormat, heatmaps, read_openpose

log = get_logger(__name__)

PairMode = Literal["paired", "unpaired"]
Validate = Literal["full", "header", "none"]

REQUIRED_FOLDERS = (
    "image",
    "cloth",
    "cloth-mask",
    "image-parse-v3",
    "openpose_json",
    "agnostic-v3.2",
    "image-parse-agnostic-v3.2",
)
_WHITE = 255


class DatasetLayoutError(FileNotFoundError):
    """The data-set folder does not have the VITON-HD layout."""


@dataclass(frozen=True)
class PairFiles:
    """Paths of every file one training pair needs."""

    name: str
    cloth_name: str
    category: str
    image: Path
    cloth: Path
    cloth_mask: Path
    parse: Path
    pose: Path
    agnostic: Path
    parse_agnostic: Path
    warped_cloth: Path | None = None
    warped_mask: Path | None = None
    agnostic_mask: Path | None = None  # None: derived from the agnostic image's grey

    def images(self) -> list[Path]:
        """All image files of the pair (the pose JSON excluded)."""
        paths = [self.image, self.cloth, self.cloth_mask, self.parse, self.agnostic, self.parse_agnostic]
        return paths + [p for p in (self.warped_cloth, self.warped_mask, self.agnostic_mask) if p is not None]


def split_dir(root: str | Path, split: str) -> Path:
    """The folder holding ``split``'s sub-folders: ``root/split`` (nested) or ``root`` itself (flat)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"data-set root {root} does not exist; set the stage's 'dataset' param")
    if (root / split / "image").is_dir():
        return root / split
    if (root / "image").is_dir() and not any((root / s / "image").is_dir() for s in ("train", "test")):
        return root
    raise DatasetLayoutError(
        f"{root} has no '{split}' split: expected {root / split / 'image'} (VITON-HD layout) "
        f"or a flat {root / 'image'} folder"
    )


def validation_split(root: str | Path, split: str, fallback: str) -> str:
    """``split`` when ``root`` has it, else ``fallback`` with a warning.

    A small scrape can leave the test split empty (the dataset stage then omits it); the
    run still goes on, and the callers' metrics say which split was validated on.
    """
    try:
        split_dir(root, split)
        return split
    except DatasetLayoutError:
        log.warning("validation split missing, validating on the training split", missing=split)
        return fallback


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


def read_pairs(root: Path, base: Path, split: str, pair_mode: PairMode) -> list[tuple[str, str, str | None]]:
    """``(person, cloth, category or None)`` per pair, from ``<split>_pairs.txt`` or, without one, every image.

    The cloth column names the garment in both modes. ``paired`` means it is the person's own
    garment (VITON ``X_0.jpg X_1.jpg``, Dress Code likewise), which is what training needs; a
    line without one pairs the person with the cloth of the same name. VITON-HD gives a person's
    own garment the person's name, and its released ``test_pairs.txt`` is unpaired, so in
    ``paired`` mode a same-named cloth, when it exists, wins over a column naming another one.
    ``unpaired`` uses the column as written and needs the file.
    """
    pairs_file = first_existing(root / f"{split}_pairs.txt", base / f"{split}_pairs.txt")
    rows: list[tuple[str, str, str | None]] = []
    if pairs_file.is_file():
        own_name_wins = 0
        for line_no, line in enumerate(pairs_file.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            person = parts[0]
            cloth = parts[1] if len(parts) > 1 else person
            if pair_mode == "paired" and cloth != person and (base / "cloth" / person).is_file():
                cloth = person
                own_name_wins += 1
            category = parts[2] if len(parts) > 2 else None
            if category is not None:
                category = category_name(category)
            rows.append((person, cloth, category))
        if own_name_wins:
            log.warning("pairs file pairs people with other garments; paired mode uses each person's own "
                        "(same-named) garment", file=pairs_file, rows=own_name_wins)
    else:
        if pair_mode == "unpaired":
            raise DatasetLayoutError(f"pair_mode=unpaired needs {pairs_file}, which does not exist")
        log.info("no pairs file, using every image", split=split, folder=base / "image")
        rows = [(p.name, p.name, None) for p in sorted((base / "image").iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:
        if row[:2] not in seen:
            seen.add(row[:2])
            unique.append(row)
    return unique


def fit_box(src: tuple[int, int], size: tuple[int, int]) -> tuple[float, int, int, int, int]:
    """``(scale, new_w, new_h, pad_left, pad_top)`` to fit a ``(w, h)`` picture in ``size=(h, w)`` without stretching."""
    width, height = src
    out_h, out_w = size
    scale = min(out_w / width, out_h / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    return scale, new_w, new_h, (out_w - new_w) // 2, (out_h - new_h) // 2


def _open(path: Path, size: tuple[int, int]) -> Image.Image:
    img = Image.open(path)
    if img.format == "JPEG":
        # Let libjpeg decode at a reduced scale when the target is much smaller (4x faster at 256x192).
        img.draft(img.mode, (size[1], size[0]))
    return img


def _letterbox(img: Image.Image, size: tuple[int, int], resample: Image.Resampling, fill: int | tuple[int, ...]) -> Image.Image:
    _, new_w, new_h, left, top = fit_box(img.size, size)
    if img.size != (new_w, new_h):
        img = img.resize((new_w, new_h), resample)
    if (new_w, new_h) == (size[1], size[0]):
        return img
    canvas = Image.new(img.mode, (size[1], size[0]), fill)
    if img.mode == "P" and img.getpalette():
        canvas.putpalette(img.getpalette())
    canvas.paste(img, (left, top))
    return canvas


def load_rgb(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """``[3, H, W]`` image in [-1, 1], letterboxed on white."""
    img = _letterbox(_open(path, size).convert("RGB"), size, Image.Resampling.BILINEAR, (_WHITE,) * 3)
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)
    return arr / 127.5 - 1.0


def load_mask(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """``[1, H, W]`` binary mask (JPEG masks are thresholded at half grey)."""
    img = _letterbox(_open(path, size).convert("L"), size, Image.Resampling.BILINEAR, 0)
    return torch.from_numpy((np.asarray(img) >= 128).astype(np.float32)).unsqueeze(0)


def region_from_agnostic(agnostic: torch.Tensor) -> torch.Tensor:
    """``[1, H, W]`` {0, 1}: where the agnostic image ``[3, H, W]`` in [-1, 1] is the grey it paints."""
    return hidden_area(agnostic).float()


def load_labels(path: Path, size: tuple[int, int]) -> np.ndarray:
    """``[H, W]`` integer label map from a palette or grey PNG (nearest-neighbour resize)."""
    img = Image.open(path)
    if img.mode not in ("P", "L"):
        raise ValueError(f"{path}: label map must be a palette or grey PNG, got mode {img.mode}")
    return np.asarray(_letterbox(img, size, Image.Resampling.NEAREST, 0))


def _check_image(path: Path, validate: Validate) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as img:
            if validate == "full":
                if img.format == "JPEG":
                    img.draft(img.mode, (img.width // 8 or 1, img.height // 8 or 1))
                img.load()
            else:
                img.verify()


class VitonDataset(Dataset[dict[str, Any]]):
    """Pairs of one split of a VITON-HD-layout folder as dicts of tensors.

    Each item holds (images in [-1, 1], masks in {0, 1}, all ``size=(H, W)``):
    ``image`` [3], ``cloth`` [3], ``cloth_mask`` [1], ``agnostic`` [3],
    ``parse_agnostic`` [13] (one-hot HR-VITON groups of the agnostic parse, see
    :mod:`pipeline.train.parse_groups`), ``pose`` [25] (Gaussian heatmaps, BODY_25
    order, sigma ``pose_sigma * H``), ``worn_mask`` [1] (the worn garment in the
    person parse, chosen by category), ``agnostic_mask`` [1] (the try-on region: the
    ``agnostic-mask`` file, or the agnostic image's grey, near the parsed person; see
    :func:`pipeline.models.repaint.tryon_region`), ``name``, ``cloth_name``, ``category`` and,
    when ``warped_root`` is given, ``warped_cloth`` [3] and ``warped_mask`` [1].
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        size: tuple[int, int] = (256, 192),
        pose_format: PoseFormat = "auto",
        pair_mode: PairMode = "paired",
        warped_root: str | Path | None = None,
        validate: Validate = "full",
        pose_sigma: float = 0.012,
        default_category: str = "upper_body",
        limit: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.size = (int(size[0]), int(size[1]))
        self.pose_format = pose_format
        self.pose_sigma = pose_sigma
        self.skipped: Counter[str] = Counter()
        if default_category not in WORN_LABELS:
            raise ValueError(f"default_category must be one of {sorted(WORN_LABELS)}, got {default_category!r}")
        base = split_dir(self.root, split)
        missing = [f for f in REQUIRED_FOLDERS if not (base / f).is_dir()]
        if missing:
            raise DatasetLayoutError(f"{base} lacks the VITON-HD folder(s) {', '.join(missing)}")
        warped_base = None
        if warped_root is not None:
            warped_base = Path(warped_root) / split
            for folder in ("warped-cloth", "warped-mask"):
                if not (warped_base / folder).is_dir():
                    raise DatasetLayoutError(f"{warped_base / folder} does not exist; run the warp stage first")
        categories = read_categories(self.root)
        pairs = read_pairs(self.root, base, split, pair_mode)
        if limit is not None:
            pairs = pairs[:limit]
        self.pairs: list[PairFiles] = []
        for person, cloth, category in tqdm(pairs, desc=f"check {split} pairs", disable=len(pairs) < 200):
            stem, cstem = Path(person).stem, Path(cloth).stem
            category = category or categories.get(person) or default_category
            if category not in WORN_LABELS:
                self._skip("unknown_category", person, category)
                continue
            files = PairFiles(
                name=person,
                cloth_name=cloth,
                category=category,
                image=base / "image" / person,
                cloth=base / "cloth" / cloth,
                cloth_mask=first_existing(base / "cloth-mask" / f"{cstem}.jpg", base / "cloth-mask" / f"{cstem}.png"),
                parse=base / "image-parse-v3" / f"{stem}.png",
                pose=base / "openpose_json" / f"{stem}_keypoints.json",
                agnostic=base / "agnostic-v3.2" / f"{stem}.jpg",
                parse_agnostic=base / "image-parse-agnostic-v3.2" / f"{stem}.png",
                agnostic_mask=_optional(base / "agnostic-mask" / f"{stem}_mask.png"),
                warped_cloth=None if warped_base is None else warped_base / "warped-cloth" / f"{stem}.jpg",
                warped_mask=None if warped_base is None else warped_base / "warped-mask" / f"{stem}.png",
            )
            reason = self._problem(files, validate)
            if reason:
                self._skip(*reason)
                continue
            self.pairs.append(files)
        log.info("dataset built", root=self.root, split=split, pairs=len(self.pairs), skipped=sum(self.skipped.values()))
        derived = sum(p.agnostic_mask is None for p in self.pairs)
        if derived:
            log.info("no agnostic-mask file for some pairs: their try-on region is the agnostic image's grey",
                     split=split, pairs=derived)
        if not self.pairs:
            raise DatasetLayoutError(f"{base}: no usable pairs in split '{split}' (skipped: {dict(self.skipped)})")

    def _skip(self, reason: str, item: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        log.warning("pair skipped", split=self.split, reason=reason, item=item, detail=detail[:200])

    def _problem(self, files: PairFiles, validate: Validate) -> tuple[str, str, str] | None:
        for path in [*files.images(), files.pose]:
            if not path.is_file():
                return ("missing_file", files.name, str(path))
        if validate == "none":
            return None
        for path in files.images():
            try:
                _check_image(path, validate)
            except Exception as exc:  # PIL raises many types for broken files
                return ("unreadable_image", files.name, f"{path}: {exc}")
        try:
            read_openpose(files.pose, self.pose_format)
        except PoseFileError as exc:
            return ("bad_pose_json", files.name, str(exc))
        return None

    def __len__(self) -> int:
        return len(self.pairs)

    def _pose(self, files: PairFiles) -> torch.Tensor:
        kps = read_openpose(files.pose, self.pose_format).copy()
        with Image.open(files.image) as img:
            scale, _, _, left, top = fit_box(img.size, self.size)
        kps[:, 0] = kps[:, 0] * scale + left
        kps[:, 1] = kps[:, 1] * scale + top
        return heatmaps(kps, self.size, sigma=max(self.pose_sigma * self.size[0], 0.5))

    def load(self, index: int) -> dict[str, Any]:
        """Read pair ``index`` from disk (raises on a file broken since the data set was built)."""
        files = self.pairs[index]
        size = self.size
        parse = load_labels(files.parse, size)
        item: dict[str, Any] = {
            "name": files.name,
            "cloth_name": files.cloth_name,
            "category": files.category,
            "image": load_rgb(files.image, size),
            "cloth": load_rgb(files.cloth, size),
            "cloth_mask": load_mask(files.cloth_mask, size),
            "agnostic": load_rgb(files.agnostic, size),
            "parse_agnostic": group_onehot(load_labels(files.parse_agnostic, size)),
            "worn_mask": worn_mask(parse, files.category),
            "pose": self._pose(files),
        }
        agnostic_mask = (load_mask(files.agnostic_mask, size) if files.agnostic_mask is not None
                         else region_from_agnostic(item["agnostic"]))
        foreground = torch.from_numpy(parse > 0).float().unsqueeze(0)
        item["agnostic_mask"] = tryon_region(agnostic_mask.unsqueeze(0), foreground.unsqueeze(0))[0]
        if files.warped_cloth is not None and files.warped_mask is not None:
            item["warped_cloth"] = load_rgb(files.warped_cloth, size)
            item["warped_mask"] = load_mask(files.warped_mask, size)
        return item

    def __getitem__(self, index: int) -> dict[str, Any]:
        # A file that broke after the build check is replaced by the next pair rather
        # than killing an epoch; with a handful of such pairs training is unaffected.
        for offset in range(len(self.pairs)):
            idx = (index + offset) % len(self.pairs)
            try:
                return self.load(idx)
            except Exception as exc:  # noqa: BLE001 - any I/O or decode failure
                log.warning("pair unreadable at load time", item=self.pairs[idx].name, detail=str(exc)[:200])
        raise RuntimeError(f"no pair of {self.root} split {self.split} can be read any more")
