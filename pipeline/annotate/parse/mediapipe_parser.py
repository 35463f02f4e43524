"""The offline parser: mediapipe landmarks and segmentation, colour models, body geometry."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.annotate.parse.base import check_rgb
from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse.errors import NoPersonFound, ParseError
from pipeline.annotate.parse.landmarks import LandmarkDetector
from pipeline.annotate.parse.regions import RegionSettings, label_regions

# Raised whenever the parser's output changes for the same picture and settings.
PARSER_VERSION = "mediapipe-heuristic-v2"


def mediapipe_parser_name(cfg: ParseConfig) -> str:
    """The parser's version and the settings that change its output (recorded in the parse metrics)."""
    return f"{PARSER_VERSION}(long_side={cfg.mp_work_long_side},complexity={cfg.mp_model_complexity})"


class MediapipeParser:
    """Parses at a reduced working size, then paints the labels onto the full-size silhouette."""

    def __init__(self, cfg: ParseConfig) -> None:
        # One mediapipe graph per process; cv2's own pool would fight the workers.
        cv2.setNumThreads(max(1, cfg.mp_threads))
        self.cfg = cfg
        self._detector = LandmarkDetector(
            cfg.mp_model_complexity, cfg.mp_min_detection_confidence,
            cfg.mp_retry_min_detection_confidence, cfg.mp_retry_pad_fraction,
        )
        self._settings = RegionSettings(
            person_threshold=cfg.mp_person_threshold,
            skin_threshold=cfg.mp_skin_threshold,
            refine_clothes=cfg.mp_refine_clothes,
        )
        self.name = mediapipe_parser_name(cfg)

    def parse(self, rgb: np.ndarray) -> np.ndarray:
        """HxW CIHP ids for an HxWx3 RGB picture; raises NoPersonFound when nobody is there."""
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        # Always the same working size, up or down: the texture and colour rules are
        # calibrated in its pixels, and small pictures gain from the finer grid.
        scale = self.cfg.mp_work_long_side / max(h, w)
        size = (max(16, round(w * scale)), max(16, round(h * scale)))
        small = rgb if size == (w, h) else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        lm = self._detector.detect(small)
        if lm is None:
            raise NoPersonFound("no person detected")
        settings = self._settings
        if scale > 1:
            # An upscaled picture carries less colour detail than its working size
            # suggests (JPEG keeps chroma at half resolution, then interpolation blends
            # it again), so a thin arm's chroma is pulled towards its neighbours. On
            # 192x256 VITON photos (x2) the 90th percentile of arm and leg skin's
            # distance to the face model was 1.4x that on 768x1024 VITON-HD (x0.5), about
            # the square root of the upscale factor, so the threshold widens by that.
            settings = replace(settings, skin_threshold=settings.skin_threshold * float(np.sqrt(scale)))
        try:
            labels = label_regions(small, lm, settings)
        except (ValueError, np.linalg.LinAlgError, cv2.error) as exc:
            # Degenerate geometry (a sliver of a person, landmarks on top of each
            # other) must cost one picture, not the run.
            raise ParseError(f"region labelling failed: {exc}") from exc
        if labels.shape == (h, w):
            return labels
        return _resize_labels(labels, lm.person_prob, (h, w), self.cfg.mp_person_threshold)

    def close(self) -> None:
        """Free the mediapipe graphs."""
        self._detector.close()


def _resize_labels(labels: np.ndarray, prob: np.ndarray, size: tuple[int, int], threshold: float) -> np.ndarray:
    """Nearest-label resizing, with the silhouette taken from the smooth segmentation."""
    h, w = size
    up = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    fg_small = labels > 0
    person = cv2.resize(np.where(fg_small, np.maximum(prob, threshold + 1e-3), np.minimum(prob, threshold)).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > threshold
    missing = person & (up == 0)
    if missing.any():
        # Silhouette pixels the coarse map left as background take the nearest label.
        src = np.where(up > 0, 0, 255).astype(np.uint8)
        _, idx = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
        lut = np.zeros(int(idx.max()) + 1, np.uint8)
        lut[idx[up > 0]] = up[up > 0]
        up[missing] = lut[idx[missing]]
    up[~person] = 0
    return up
