"""Person photos with their parse maps, for training the learned parser (``pipeline.models.parse_net``).

Any folder in the VITON-HD layout works: ``<root>/<split>/image/<stem>.jpg`` beside
``<root>/<split>/image-parse-v3/<stem>.png`` (CIHP ids; ``import_data`` writes VITON's LIP
maps and Dress Code's label maps this way). Pictures are letterboxed onto a zero canvas
exactly as :class:`pipeline.annotate.parse.onnx_parser.OnnxParser` feeds the exported network.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pipeline.annotate.parse.framing import letterbox_box
from pipeline.annotate.parse.labels import CIHP_LABELS, LEFT_ARM, LEFT_LEG, LEFT_SHOE, RIGHT_ARM, RIGHT_LEG, RIGHT_SHOE
from pipeline.annotate.parse.palette_io import load_parse_png
from pipeline.dataset.layout import FOLDERS, IMAGE, PARSE
from pipeline.log import get_logger
from pipeline.train.data import split_dir

log = get_logger(__name__)

# A mirrored person's left arm is the picture's right arm: the labels swap with the pixels.
# (albumentations' HorizontalFlip moves pixels only, so the flip is done here.)
MIRROR_LUT = np.arange(len(CIHP_LABELS), dtype=np.uint8)
for _a, _b in ((LEFT_ARM, RIGHT_ARM), (LEFT_LEG, RIGHT_LEG), (LEFT_SHOE, RIGHT_SHOE)):
    MIRROR_LUT[_a], MIRROR_LUT[_b] = _b, _a


def mirror(rgb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The picture flipped left-right, with left and right labels exchanged."""
    return np.ascontiguousarray(rgb[:, ::-1]), MIRROR_LUT[labels[:, ::-1]]


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when it is not a readable image (no full decode)."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def list_parse_items(root: str | Path, split: str, limit: int | None = None) -> tuple[list[tuple[Path, Path]], Counter[str]]:
    """``(image, parse map)`` paths of ``split`` whose files are present and agree in size, and the skips by reason.

    Checked here from the headers, so the skips are counted once in the stage's metrics
    (data-loader workers cannot report back); a file broken past its header is still
    replaced by a neighbour at load time, with a warning.
    """
    base = split_dir(root, split)
    image_folder, parse_folder = FOLDERS[IMAGE], FOLDERS[PARSE]
    items: list[tuple[Path, Path]] = []
    skipped: Counter[str] = Counter()
    for path in sorted((base / IMAGE).iterdir()):
        stem = image_folder.stem_of(path.name)
        if stem is None:
            continue
        parse = base / PARSE / parse_folder.file_name(stem)
        if not parse.is_file():
            skipped["parse_missing"] += 1
            continue
        image_size, parse_size = _header_size(path), _header_size(parse)
        if image_size is None or parse_size is None:
            skipped["unreadable"] += 1
            continue
        if image_size != parse_size:
            skipped["size_mismatch"] += 1
            continue
        items.append((path, parse))
        if limit is not None and len(items) >= limit:
            break
    return items, skipped


def _augmenter(strength: float, seed: int) -> A.Compose:
    """Framing and colour changes (scale, shift, light): VITON's centred studio shots are alike,
    users' photos are not."""
    return A.Compose([
        A.Affine(scale=(1 - 0.25 * strength, 1 + 0.1 * strength), translate_percent=(-0.08 * strength, 0.08 * strength),
                 rotate=(-8 * strength, 8 * strength), border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.7),
        A.ColorJitter(brightness=0.25 * strength, contrast=0.25 * strength, saturation=0.25 * strength, hue=0.03 * strength, p=0.8),
    ], seed=seed)  # fmt: skip


class ParseDataset(Dataset):
    """``(image [3, H, W] in [-1, 1], labels [H, W] int64)``; unreadable files become counted skips."""

    def __init__(self, root: str | Path, split: str, size: tuple[int, int], augment: float = 0.0, limit: int | None = None,
                 seed: int = 0) -> None:
        self.split = split
        self.size = (int(size[0]), int(size[1]))
        self.items, self.skipped = list_parse_items(root, split, limit)
        if not self.items:
            raise ValueError(f"{root}: split '{split}' has no image with a parse map in {PARSE}/")
        self.augment = float(augment)
        self._aug = _augmenter(self.augment, seed) if self.augment > 0 else None
        self._rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the augmentation's random streams (each data-loader worker gets its own seed)."""
        self._rng = np.random.default_rng(seed)
        if self._aug is not None:
            self._aug.set_random_seed(seed)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The letterboxed RGB picture and label map of item ``index``, or None when a file is broken."""
        image_path, parse_path = self.items[index]
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        try:
            labels = load_parse_png(parse_path)
        except (OSError, ValueError) as exc:
            log.warning("parse map unreadable, skipped", path=parse_path, detail=str(exc)[:120])
            return None
        if bgr is None or bgr.shape[:2] != labels.shape:
            log.warning("image unreadable or not the parse map's size, skipped", path=image_path)
            return None
        rgb, _ = letterbox_box(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size)
        labels, _ = letterbox_box(np.minimum(labels, len(CIHP_LABELS) - 1), self.size, interpolation=cv2.INTER_NEAREST)
        return rgb, labels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        loaded = self.load(index)
        if loaded is None:
            # Broken past its header: train on a neighbour rather than stop the run (logged in load).
            return self[(index + 1) % len(self)] if len(self) > 1 else self._blank()
        rgb, labels = loaded
        if self._aug is not None:
            if self._rng.random() < 0.5:
                rgb, labels = mirror(rgb, labels)
            out = self._aug(image=rgb, mask=labels)
            rgb, labels = out["image"], out["mask"]
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        return x, torch.from_numpy(np.ascontiguousarray(labels)).long()

    def _blank(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(3, *self.size), torch.zeros(self.size, dtype=torch.long)


def reseed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed the worker's copy from the loader's per-epoch seed, so runs repeat."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, ParseDataset):
        info.dataset.reseed(torch.initial_seed() % 2**32)
