"""The detection retry ladder shared by the pose annotator and the human parser."""

from __future__ import annotations

import numpy as np

from pipeline.annotate.detection_retry import (
    DetectionAttempt, detection_attempts, first_detection, pad_picture, upscale_factor,
)


def test_attempt_ladder_order_and_switches() -> None:
    names = [a.name for a in detection_attempts(0.5, 0.1, 0.2)]
    assert names == ["primary", "padded", "low_threshold", "low_threshold_padded"]
    assert [a.name for a in detection_attempts(0.5, 0.5, 0.2)] == ["primary", "padded"]
    assert [a.name for a in detection_attempts(0.5, 0.1, 0.0)] == ["primary", "low_threshold"]
    low = detection_attempts(0.5, 0.1, 0.2)[3]
    assert low == DetectionAttempt("low_threshold_padded", 0.1, 0.2)


def test_first_detection_stops_at_the_first_hit() -> None:
    tried: list[str] = []

    def detect(a: DetectionAttempt) -> str | None:
        tried.append(a.name)
        return "someone" if a.min_confidence < 0.5 else None

    hit = first_detection(detection_attempts(0.5, 0.1, 0.2), detect)
    assert hit is not None and hit[0].name == "low_threshold" and hit[1] == "someone"
    assert tried == ["primary", "padded", "low_threshold"]
    assert first_detection(detection_attempts(0.5, 0.5, 0.0), lambda a: None) is None


def test_pad_picture_replicates_edges() -> None:
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, -1] = 200
    padded, pad = pad_picture(img, 0.1)
    assert pad == 2 and padded.shape == (14, 24, 3)
    assert (padded[2:12, 2:22] == img).all() and (padded[:, -1] == 200).all()
    same, none = pad_picture(img, 0.0)
    assert none == 0 and same is img


def test_upscale_factor() -> None:
    assert upscale_factor(192, 256, 512, 1024) == 4
    assert upscale_factor(768, 1024, 512, 1024) == 1
    assert upscale_factor(192, 256, 0, 1024) == 1
