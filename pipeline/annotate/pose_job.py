"""The pose stage's per-image job: OpenPose keypoints and their drawing (see :mod:`pipeline.annotate.job_io`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from pipeline.annotate.body25 import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from pipeline.annotate.job_io import Closing, ImageItem, load_rgb, png_bytes, write_file
from pipeline.annotate.parallel import ItemResult
from pipeline.annotate.pose import PoseConfig
from pipeline.dataset.layout import PARSE, POSE_IMG, POSE_JSON, file_path
from pipeline.io.images import ImageRejected

_MIN_KEYPOINT_CONF = 0.05


@dataclass(frozen=True)
class PoseJob:
    """OpenPose BODY_25 keypoints of person images: ``openpose_json`` and ``openpose_img``."""

    config: PoseConfig
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
        from pipeline.annotate.parse.palette_io import load_parse_png
        from pipeline.annotate.pose import PoseEstimator

        estimator = PoseEstimator(self.config)

        def run(item: ImageItem) -> ItemResult:
            try:
                rgb, flags = load_rgb(item)
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
            flags += pose_flags(body, getattr(result, "people_found", 1))
            base = self.out_root / item.split
            doc = to_openpose_dict(body, result.hand_left, result.hand_right, result.face)
            write_file(file_path(base, POSE_JSON, item.stem), (json.dumps(doc) + "\n").encode())
            height, width = rgb.shape[:2]
            picture = render_skeleton(body, width, height, result.hand_left, result.hand_right)
            write_file(file_path(base, POSE_IMG, item.stem), png_bytes(Image.fromarray(picture)))
            return ItemResult(item.name, ok=True, flags=flags)

        return Closing(run, estimator)


def pose_flags(body: np.ndarray, people_found: int) -> tuple[str, ...]:
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
    if not (seen[R_HIP] or seen[L_HIP]):
        flags.append("hips_missing")
    return tuple(flags)
