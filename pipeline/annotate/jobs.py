"""Per-image annotation jobs (parse, pose, agnostic, cloth mask) for :mod:`pipeline.annotate.parallel`.

Each job reads one image from the augment stage's layout, runs its model and
writes its VITON-HD file(s) under the stage's output root. Every way an image
can be unusable ends in a counted skip with a reason; facts worth knowing that
do not stop the image (grey-scale input, a back view, keypoints that had to be
estimated) are returned as flags and counted in the stage metrics.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from pipeline.annotate.agnostic import L_SHOULDER, R_SHOULDER, AgnosticConfig, AgnosticError, make_agnostic
from pipeline.annotate.cloth_mask import ClothMaskConfig, ClothMaskError, cloth_mask
from pipeline.annotate.parallel import ItemResult
from pipeline.dataset.layout import (
    AGNOSTIC,
    AGNOSTIC_MASK,
    CLOTH_MASK,
    IMAGE,
    PARSE,
    PARSE_AGNOSTIC,
    POSE_IMG,
    POSE_JSON,
    file_path,
)
from pipeline.io.images import ImageLimits, ImageRejected, encode_jpeg, load_image, to_rgb_array

# Smaller pictures carry too little of a person for parsing or pose.
IMAGE_LIMITS = ImageLimits(min_side=64)
# A parse map with less of the frame labelled as person than this has found no usable person.
_MIN_PERSON_FRACTION = 0.02
_MIN_KEYPOINT_CONF = 0.05


@dataclass(frozen=True)
class ImageItem:
    """One image of a split: ``data/augment/<split>/<folder>/<stem>.jpg``."""

    split: str
    stem: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.split}/{self.stem}"


def list_images(root: str | Path, splits: tuple[str, ...], folder: str = IMAGE) -> list[ImageItem]:
    """Every ``.jpg``/``.png`` of ``root/<split>/<folder>``, sorted (missing folders give nothing)."""
    items = []
    for split in splits:
        d = Path(root) / split / folder
        if d.is_dir():
            items.extend(
                ImageItem(split, p.stem, p) for p in sorted(d.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
    return items


def _load_rgb(item: ImageItem) -> tuple[np.ndarray, tuple[str, ...]]:
    """The picture as RGB and a ``grayscale_input`` flag when its three channels are equal."""
    rgb = to_rgb_array(load_image(item.path, IMAGE_LIMITS))
    return rgb, (("grayscale_input",) if _is_grey(rgb) else ())


def _is_grey(rgb: np.ndarray) -> bool:
    # A sparse look rules out nearly every colour photo before the full comparison.
    sample = rgb[::16, ::16]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


# zlib level of the PNGs written here (label maps, masks, skeleton drawings): these
# flat pictures compress nearly as well at level 1, in a third of the time of the default 6.
PNG_COMPRESS_LEVEL = 1


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    """Write one output file: under a temporary name, then renamed into place.

    The stages hand these jobs the temporary folder of an ``atomic_dir``, which
    replaces the stage output only once every image is done, so the per-file
    ``fsync`` of :func:`pipeline.io.atomic.write_bytes` would only make each image
    wait for the disk (several files per image, tens of ms each on a busy disk).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class ParseJob:
    """Human parsing of person images into ``<out>/<split>/image-parse-v3/<stem>.png``."""

    config: Any  # ParseConfig; typed loosely so this module imports without the parse engine
    out_root: Path

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        from pipeline.annotate.parse import NoPersonFound, ParseError, build_parser
        from pipeline.annotate.parse.palette_io import to_palette_image

        parser = build_parser(self.config)

        def run(item: ImageItem) -> ItemResult:
            try:
                rgb, flags = _load_rgb(item)
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
            _write(file_path(self.out_root / item.split, PARSE, item.stem), _png_bytes(to_palette_image(labels)))
            return ItemResult(item.name, ok=True, flags=flags)

        return _Closing(run, parser)


@dataclass(frozen=True)
class PoseJob:
    """OpenPose BODY_25 keypoints of person images: ``openpose_json`` and ``openpose_img``."""

    config: Any  # PoseConfig
    out_root: Path
    # MediaPipe returns a guessed skeleton even for a cat; on real people the
    # shoulders come with confidence near 1, on such guesses well below 0.5.
    min_shoulder_confidence: float = 0.5
    # Root of the parse stage's output (``<root>/<split>/image-parse-v3/<stem>.png``); when given,
    # the hips are moved toward the top's hem (pipeline.annotate.hip_refine).
    parse_root: Path | None = None

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        from pipeline.annotate.hip_refine import refine_hips_with_parse
        from pipeline.annotate.openpose_format import render_skeleton, to_openpose_dict
        from pipeline.annotate.parse import load_parse_png
        from pipeline.annotate.pose import PoseEstimator

        estimator = PoseEstimator(self.config)

        def run(item: ImageItem) -> ItemResult:
            try:
                rgb, flags = _load_rgb(item)
            except ImageRejected as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            result = estimator.estimate(rgb)
            if result is None:
                return ItemResult.skipped(item.name, "no_person", "no pose found", flags)
            shoulders = float(np.asarray(result.body)[[R_SHOULDER, L_SHOULDER], 2].max())
            if shoulders < self.min_shoulder_confidence:
                detail = f"best shoulder confidence {shoulders:.2f} < {self.min_shoulder_confidence}"
                return ItemResult.skipped(item.name, "implausible_pose", detail, flags)
            body = result.body
            if self.parse_root is not None:
                parse_path = file_path(self.parse_root / item.split, PARSE, item.stem)
                try:
                    labels = load_parse_png(parse_path) if parse_path.is_file() else None
                except (OSError, ValueError):
                    labels = None
                if labels is not None and labels.shape == rgb.shape[:2]:
                    body = refine_hips_with_parse(body, labels, self.config)
                else:
                    flags += ("hips_not_refined_no_parse",)
            flags += _pose_flags(body, getattr(result, "people_found", 1))
            base = self.out_root / item.split
            doc = to_openpose_dict(body, result.hand_left, result.hand_right, result.face)
            _write(file_path(base, POSE_JSON, item.stem), (json.dumps(doc) + "\n").encode())
            height, width = rgb.shape[:2]
            picture = render_skeleton(body, width, height, result.hand_left, result.hand_right)
            _write(file_path(base, POSE_IMG, item.stem), _png_bytes(Image.fromarray(picture)))
            return ItemResult(item.name, ok=True, flags=flags)

        return _Closing(run, estimator)


def _pose_flags(body: np.ndarray, people_found: int) -> tuple[str, ...]:
    """Facts about a pose worth counting: several people, back view, cut-off body."""
    body = np.asarray(body).reshape(-1, 3)
    seen = body[:, 2] >= _MIN_KEYPOINT_CONF
    flags = []
    if people_found > 1:
        flags.append("several_people_largest_used")
    if seen[R_SHOULDER] and seen[L_SHOULDER] and body[L_SHOULDER, 0] < body[R_SHOULDER, 0]:
        # OpenPose's right shoulder is on the image's left for a person facing the camera.
        flags.append("back_view")
    if not (seen[R_SHOULDER] and seen[L_SHOULDER]):
        flags.append("shoulders_missing")
    if not (seen[9] or seen[12]):
        flags.append("hips_missing")
    return tuple(flags)


@dataclass(frozen=True)
class AgnosticJob:
    """Agnostic image, its mask and the parse agnostic of one person, from image, parse and pose."""

    config: AgnosticConfig
    image_root: Path
    parse_root: Path
    pose_root: Path
    out_root: Path

    def __call__(self) -> Callable[[ImageItem], ItemResult]:
        from pipeline.annotate.openpose_format import read_openpose_json
        from pipeline.annotate.parse import load_parse_png
        from pipeline.annotate.parse.palette_io import to_palette_image

        def run(item: ImageItem) -> ItemResult:
            parse_path = file_path(self.parse_root / item.split, PARSE, item.stem)
            pose_path = file_path(self.pose_root / item.split, POSE_JSON, item.stem)
            if not parse_path.is_file():
                return ItemResult.skipped(item.name, "missing_parse", str(parse_path))
            if not pose_path.is_file():
                return ItemResult.skipped(item.name, "missing_pose", str(pose_path))
            try:
                rgb, _ = _load_rgb(item)
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
                res = make_agnostic(rgb, labels, person.body, self.config)
            except AgnosticError as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            base = self.out_root / item.split
            _write(file_path(base, AGNOSTIC, item.stem), encode_jpeg(Image.fromarray(res.image)))
            mask_rgb = Image.fromarray(res.mask).convert("RGB")  # VITON-HD ships the mask as RGB PNG
            _write(file_path(base, AGNOSTIC_MASK, item.stem), _png_bytes(mask_rgb))
            _write(file_path(base, PARSE_AGNOSTIC, item.stem), _png_bytes(to_palette_image(res.parse_agnostic)))
            flags = tuple(f"estimated_{k}" for k in res.estimated_keypoints)
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
                rgb, flags = _load_rgb(item)
            except ImageRejected as exc:
                return ItemResult.skipped(item.name, exc.reason, exc.detail)
            try:
                mask = cloth_mask(rgb, self.config)
            except ClothMaskError as exc:
                return ItemResult.skipped(item.name, f"cloth_{exc.reason}", exc.detail, flags)
            buf = io.BytesIO()
            Image.fromarray(mask, mode="L").save(buf, format="JPEG", quality=95)
            _write(file_path(self.out_root / item.split, CLOTH_MASK, item.stem), buf.getvalue())
            return ItemResult(item.name, ok=True, flags=flags)

        return run


class _Closing:
    """A per-item function that also releases its model when the in-process run ends."""

    def __init__(self, fn: Callable[[ImageItem], ItemResult], resource: Any) -> None:
        self._fn = fn
        self._resource = resource

    def __call__(self, item: ImageItem) -> ItemResult:
        return self._fn(item)

    def close(self) -> None:
        close = getattr(self._resource, "close", None)
        if callable(close):
            close()
