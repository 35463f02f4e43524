"""The parse stage's per-image job: human parsing into ``image-parse-v3`` (see :mod:`pipeline.annotate.job_io`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.annotate.job_io import Closing, ImageItem, load_rgb, png_bytes, write_file
from pipeline.annotate.parallel import ItemResult
from pipeline.annotate.parse.config import ParseConfig
from pipeline.dataset.layout import PARSE, file_path
from pipeline.io.images import ImageRejected

# A parse map with less of the frame labelled as person than this has found no usable person.
_MIN_PERSON_FRACTION = 0.02


@dataclass(frozen=True)
class ParseJob:
    """Human parsing of person images into ``<out>/<split>/image-parse-v3/<stem>.png``."""

    config: ParseConfig
    out_root: Path

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        from pipeline.annotate.parse.builder import build_parser
        from pipeline.annotate.parse.errors import NoPersonFound, ParseError
        from pipeline.annotate.parse.palette_io import to_palette_image

        parser = build_parser(self.config)

        def run(item: ImageItem) -> ItemResult:
            try:
                rgb, flags = load_rgb(item)
            except ImageRejected as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            try:
                labels = parser.parse(rgb)
            except NoPersonFound as exc:
                return ItemResult.skipped(item.name, exc.reason, str(exc), flags)
            except ParseError as exc:
                return ItemResult.skipped(item.name, getattr(exc, "reason", "parse_failed"), str(exc), flags)
            labels = np.asarray(labels)
            if labels.shape != rgb.shape[:2]:
                return ItemResult.skipped(item.name, "parse_size_mismatch", f"{labels.shape} vs {rgb.shape[:2]}", flags)
            person = float((labels > 0).mean())
            if person < _MIN_PERSON_FRACTION:
                return ItemResult.skipped(item.name, "person_too_small", f"{person:.3f} of the frame labelled", flags)
            if not np.isin(labels, (5, 6, 7)).any():
                flags += ("no_upper_garment_label",)
            write_file(file_path(self.out_root / item.split, PARSE, item.stem), png_bytes(to_palette_image(labels)))
            return ItemResult(item.name, ok=True, flags=flags)

        return Closing(run, parser)
