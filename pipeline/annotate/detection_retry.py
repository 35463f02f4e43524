"""Retrying MediaPipe's person detector when it finds nobody: a padded copy, then a lower threshold.

MediaPipe's pose graphs start from a person detector that wants the whole upper
body with some room around it. Close-up portraits and augmented crops whose
shoulders touch the frame edges, and tiny pictures, are missed at the default
threshold although the landmark model handles them well once started. Both the
pose annotator and the human parser run the same ladder of attempts, so an
image that gets a skeleton also gets a parse map:

1. the picture as it is, at the configured detection threshold;
2. a copy padded on every side by replicating its edges (the person then fits
   the detector's expected framing);
3. the picture at a lower threshold;
4. the padded copy at the lower threshold.

The first attempt that finds someone wins, so pictures found at once cost
nothing extra. Landmarks found on a padded copy are shifted back by the pad.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class DetectionAttempt:
    """One try of the detector: its name (logged and counted), threshold and pad."""

    name: str
    min_confidence: float
    pad_fraction: float = 0.0


def detection_attempts(
    min_confidence: float, retry_min_confidence: float, pad_fraction: float
) -> tuple[DetectionAttempt, ...]:
    """The ladder of attempts described in the module docstring (retries switched off by 0 / no lower threshold)."""
    attempts = [DetectionAttempt("primary", min_confidence)]
    if pad_fraction > 0:
        attempts.append(DetectionAttempt("padded", min_confidence, pad_fraction))
    if retry_min_confidence < min_confidence:
        attempts.append(DetectionAttempt("low_threshold", retry_min_confidence))
        if pad_fraction > 0:
            attempts.append(DetectionAttempt("low_threshold_padded", retry_min_confidence, pad_fraction))
    return tuple(attempts)


def first_detection(
    attempts: tuple[DetectionAttempt, ...] | list[DetectionAttempt],
    detect: Callable[[DetectionAttempt], T | None],
) -> tuple[DetectionAttempt, T] | None:
    """``(attempt, result)`` of the first attempt for which ``detect`` returns something, else None."""
    for attempt in attempts:
        found = detect(attempt)
        if found is not None:
            return attempt, found
    return None


def pad_picture(img: np.ndarray, pad_fraction: float) -> tuple[np.ndarray, int]:
    """``img`` with ``pad_fraction`` of its longer side added on every side (edges replicated), and the pad in pixels."""
    pad = int(round(pad_fraction * max(img.shape[:2])))
    if pad <= 0:
        return img, 0
    return cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad


def upscale_factor(width: int, height: int, below: int, target: int) -> int:
    """Integer factor bringing a picture whose longer side is under ``below`` to about ``target`` (else 1).

    MediaPipe's detector misses or misplaces people in tiny images (VITON's 192x256).
    """
    longest = max(width, height)
    if below and longest < below:
        return max(1, math.ceil(target / longest))
    return 1
