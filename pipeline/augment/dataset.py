"""Write the augmented training set and the untouched test set in the VITON-HD layout.

``out_dir/{train,test}/{image,cloth}/<pair_id>_<variant:02d>.jpg``, plus
``train_pairs.txt``, ``test_pairs.txt`` and ``pairs.csv``. Pairs are processed one at
a time (optionally in worker processes), so memory does not grow with the data set.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm import tqdm

from pipeline.augment.config import AugmentConfig
from pipeline.augment.variants import PairAugmenter
from pipeline.io.csv_table import read_table
from pipeline.io.images import ImageLimits, ImageRejected, encode_jpeg, load_image, to_rgb_array
from pipeline.log import get_logger
from pipeline.stage_metrics import StageMetrics

log = get_logger(__name__)

SPLITS = ("train", "test")
REQUIRED_COLUMNS = ("pair_id", "person_path", "garment_path", "split")
PAIRS_COLUMNS = ("name", "split", "pair_id", "variant", "category")


@dataclass(frozen=True)
class PairResult:
    """What happened to one pair: the rows it produced, or why it was skipped."""

    pair_id: str
    rows: list[dict[str, Any]]
    skip_reason: str = ""
    detail: str = ""


def read_pairs(path: Path) -> list[dict[str, str]]:
    """Rows of classify's ``pairs.csv``; a missing file or column is a clear error."""
    return read_table(path, REQUIRED_COLUMNS, "pairs table", "classify")


_WORKER: PairAugmenter | None = None


def _init_worker(cfg: AugmentConfig) -> None:
    global _WORKER
    _WORKER = PairAugmenter(cfg)


def process_pair(row: dict[str, str], out_dir: str, root: str, augmenter: PairAugmenter | None = None) -> PairResult:
    """Load one pair, write its variants (train) or its fitted original (test)."""
    aug = augmenter or _WORKER
    assert aug is not None, "process_pair needs an augmenter (or a worker initialised with one)"
    pair_id, split = row["pair_id"], row["split"]
    if split not in SPLITS:
        return PairResult(pair_id, [], "unknown_split", f"split={split!r}")
    try:
        person = to_rgb_array(load_image(Path(root) / row["person_path"], ImageLimits()))
        cloth = to_rgb_array(load_image(Path(root) / row["garment_path"], ImageLimits()))
    except ImageRejected as exc:
        return PairResult(pair_id, [], "unreadable", f"{exc.reason}: {exc.detail}"[:200])
    count = aug.cfg.variants if split == "train" else 1
    rows = []
    base = Path(out_dir) / split
    person, cloth = aug.fit(person, cloth)
    for variant in range(count):
        name = f"{pair_id}_{variant:02d}.jpg"
        p_img, c_img = aug.augment_fitted(person, cloth, pair_id, variant)
        (base / "image" / name).write_bytes(encode_jpeg(Image.fromarray(p_img), aug.cfg.jpeg_quality))
        (base / "cloth" / name).write_bytes(encode_jpeg(Image.fromarray(c_img), aug.cfg.jpeg_quality))
        rows.append({"name": name, "split": split, "pair_id": pair_id, "variant": variant, "category": row.get("category", "")})
    return PairResult(pair_id, rows)


def _results(rows: list[dict[str, str]], out_dir: Path, root: Path, cfg: AugmentConfig) -> Iterator[PairResult]:
    if cfg.workers == 1 or len(rows) < 2:
        aug = PairAugmenter(cfg)
        for row in rows:
            yield process_pair(row, str(out_dir), str(root), aug)
        return
    # "spawn": the caller may hold threads (MediaPipe, tqdm) that a fork would copy mid-lock.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(cfg.workers, mp_context=ctx, initializer=_init_worker, initargs=(cfg,)) as pool:
        yield from pool.map(process_pair, rows, [str(out_dir)] * len(rows), [str(root)] * len(rows), chunksize=2)


def augment_pairs(
    pairs_csv: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: AugmentConfig,
    root: str | os.PathLike[str] = ".",
    metrics: StageMetrics | None = None,
) -> StageMetrics:
    """Build the augmented data set from a pairs table into ``out_dir`` (see module doc)."""
    metrics = metrics or StageMetrics("augment")
    out_dir, root = Path(out_dir), Path(root)
    PairAugmenter(cfg)  # bad transform names or arguments fail here, before any work
    rows = sorted(read_pairs(Path(pairs_csv)), key=lambda r: (r["split"], r["pair_id"]))
    for split in SPLITS:
        for kind in ("image", "cloth"):
            (out_dir / split / kind).mkdir(parents=True, exist_ok=True)
    written: list[dict[str, Any]] = []
    pairs_per_split: Counter[str] = Counter()
    for result in tqdm(_results(rows, out_dir, root, cfg), total=len(rows), desc="augment", unit="pair", mininterval=2.0):
        metrics.items_in += 1
        if result.skip_reason:
            metrics.skip(result.skip_reason, result.pair_id, result.detail)
            continue
        metrics.items_out += 1
        pairs_per_split[result.rows[0]["split"]] += 1
        written.extend(result.rows)

    for split in SPLITS:
        names = [r["name"] for r in written if r["split"] == split]
        (out_dir / f"{split}_pairs.txt").write_text("".join(f"{n} {n}\n" for n in names), encoding="utf-8")
    with (out_dir / "pairs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(PAIRS_COLUMNS))
        writer.writeheader()
        writer.writerows(written)

    images = Counter(r["split"] for r in written)
    metrics.extra.update(
        size=list(cfg.size),
        variants=cfg.variants,
        train_pairs=pairs_per_split.get("train", 0),
        test_pairs=pairs_per_split.get("test", 0),
        train_images=images.get("train", 0),
        test_images=images.get("test", 0),
        augmented_images=sum(1 for r in written if r["variant"] > 0),
        workers=cfg.workers,
    )
    if not written:
        log.warning("no pairs written: the data set is empty", pairs_in=metrics.items_in)
    log.info("augmented", pairs=metrics.items_out, train_images=images.get("train", 0), test_images=images.get("test", 0))
    return metrics
