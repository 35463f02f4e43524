"""The agnostic stage's per-image jobs: agnostic image, mask and parse; garment mask (see :mod:`pipeline.annotate.job_io`)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from pipeline.annotate.agnostic import AgnosticConfig, AgnosticError, make_agnostic
from pipeline.annotate.cloth_mask import ClothMaskConfig, ClothMaskError, cloth_mask
from pipeline.annotate.job_io import ImageItem, load_rgb, png_bytes, write_file
from pipeline.annotate.parallel import ItemResult
from pipeline.dataset.layout import AGNOSTIC, AGNOSTIC_MASK, CLOTH_MASK, PARSE, PARSE_AGNOSTIC, POSE_JSON, file_path
from pipeline.io.images import ImageRejected, encode_jpeg


@dataclass(frozen=True)
class AgnosticJob:
    """Agnostic image, its mask and the parse agnostic of one person, from image, parse and pose.

    ``categories`` maps an image's file name to the category of the garment it is paired with
    (the pairs table's column); names it lacks get ``default_category``.
    """

    config: AgnosticConfig
    image_root: Path
    parse_root: Path
    pose_root: Path
    out_root: Path
    categories: dict[str, str] = field(default_factory=dict)
    default_category: str = "upper_body"

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        from pipeline.annotate.openpose_format import read_openpose_json
        from pipeline.annotate.parse.palette_io import load_parse_png, to_palette_image

        def run(item: ImageItem) -> ItemResult:
            parse_path = file_path(self.parse_root / item.split, PARSE, item.stem)
            pose_path = file_path(self.pose_root / item.split, POSE_JSON, item.stem)
            if not parse_path.is_file():
                return ItemResult.skipped(item.name, "missing_parse", str(parse_path))
            if not pose_path.is_file():
                return ItemResult.skipped(item.name, "missing_pose", str(pose_path))
            try:
                rgb, _ = load_rgb(item)
            except ImageRejected as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            try:
                labels = load_parse_png(parse_path)
            except (OSError, ValueError) as exc:
                return ItemResult.skipped(item.name, "unreadable_parse", str(exc))
            try:
                person = read_openpose_json(pose_path)
            except (OSError, ValueError) as exc:
                return ItemResult.skipped(item.name, "unreadable_pose", str(exc))
            if person is None:
                return ItemResult.skipped(item.name, "no_person", "pose file lists nobody")
            if labels.shape != rgb.shape[:2]:
                return ItemResult.skipped(item.name, "parse_size_mismatch", f"{labels.shape} vs {rgb.shape[:2]}")
            try:
                category = self.categories.get(item.path.name, self.default_category)
                res = make_agnostic(rgb, labels, person.body, self.config, category=category)
            except AgnosticError as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            except ValueError as exc:  # a category the rule does not know
                return ItemResult.skipped(item.name, "unknown_category", str(exc))
            base = self.out_root / item.split
            write_file(file_path(base, AGNOSTIC, item.stem), encode_jpeg(Image.fromarray(res.image)))
            mask_rgb = Image.fromarray(res.mask).convert("RGB")  # VITON-HD ships the mask as RGB PNG
            write_file(file_path(base, AGNOSTIC_MASK, item.stem), png_bytes(mask_rgb))
            write_file(file_path(base, PARSE_AGNOSTIC, item.stem), png_bytes(to_palette_image(res.parse_agnostic)))
            flags = tuple(f"estimated_{k}" for k in res.estimated_keypoints) + (f"category_{category}",)
            return ItemResult(item.name, ok=True, flags=flags)

        return run


@dataclass(frozen=True)
class ClothMaskJob:
    """Garment foreground mask: ``<out>/<split>/cloth-mask/<stem>.jpg`` (JPEG, 0/255, as VITON-HD)."""

    config: ClothMaskConfig
    out_root: Path

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        def run(item: ImageItem) -> ItemResult:
            try:
                rgb, flags = load_rgb(item)
            except ImageRejected as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            try:
                mask = cloth_mask(rgb, self.config)
            except ClothMaskError as exc:
                return ItemResult.skipped(item.name, f"cloth_{exc.reason}", exc.detail, flags)
            buf = io.BytesIO()
            Image.fromarray(mask, mode="L").save(buf, format="JPEG", quality=95)
            write_file(file_path(self.out_root / item.split, CLOTH_MASK, item.stem), buf.getvalue())
            return ItemResult(item.name, ok=True, flags=flags)

        return run
