"""The crawl's output table (``manifest.csv``) and pruning of images it no longer lists."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.io.atomic import atomic_file
from pipeline.log import get_logger

log = get_logger(__name__)

MANIFEST_NAME = "manifest.csv"
IMAGES_DIR = "images"
COLUMNS = [
    "source", "product_id", "product_name", "category", "page_url", "image_url",
    "image_index", "path", "sha256", "phash", "width", "height", "fetched_at",
]


def manifest_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly the contract's columns, in order."""
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    return frame.astype({"image_index": "int64", "width": "int64", "height": "int64"})


def write_manifest(frame: pd.DataFrame, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``manifest.csv`` atomically."""
    path = Path(out_dir) / MANIFEST_NAME
    with atomic_file(path, "w") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")
    return path


def read_manifest(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (ids stay strings)."""
    return pd.read_csv(Path(out_dir) / MANIFEST_NAME, dtype=str, keep_default_na=False).astype(
        {"image_index": "int64", "width": "int64", "height": "int64"})


def prune_images(out_dir: str | os.PathLike[str], keep: set[str]) -> int:
    """Delete files in ``images/`` whose names are not in ``keep`` (incl. temp files of killed runs)."""
    images = Path(out_dir) / IMAGES_DIR
    removed = 0
    if images.is_dir():
        for path in images.iterdir():
            if path.is_file() and path.name not in keep:
                path.unlink()
                removed += 1
    if removed:
        log.info("pruned", folder=str(images), files=removed)
    return removed
