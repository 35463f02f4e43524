"""OpenPose keypoint files: writing (version 1.3, BODY_25), reading (1.3 or VITON's 1.0 COCO-18), rendering.

Reading accepts both ``pose_keypoints_2d`` (OpenPose ≥ 1.2) and ``pose_keypoints``
(1.0, as in VITON/CP-VTON) and tells BODY_25 from COCO-18 by the keypoint count.
Rendering draws the skeleton on black like OpenPose (and VITON-HD's
``openpose_img``): limbs as filled ellipses in OpenPose's colours at 60 %
intensity, joints as full-colour discs, hands as thin lines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.annotate.body25 import BODY25_COLORS, BODY25_PAIRS, HAND_PAIRS
from pipeline.io.atomic import write_text

BODY25 = "BODY_25"
COCO18 = "COCO_18"
_FORMATS = {25: BODY25, 18: COCO18}


@dataclass
class OpenPosePerson:
    """One person read from an OpenPose file; arrays are ``(N, 3)`` (x, y, confidence)."""

    body: np.ndarray
    format: str  # BODY_25 or COCO_18
    hand_left: np.ndarray
    hand_right: np.ndarray
    face: np.ndarray


def _flat(arr: np.ndarray, n: int) -> list[float]:
    a = np.asarray(arr, dtype=np.float64).reshape(-1, 3)
    if a.shape[0] != n:
        raise ValueError(f"expected {n} keypoints, got {a.shape[0]}")
    return [round(float(v), 3) for v in a.reshape(-1)]


def to_openpose_dict(
    body: np.ndarray,
    hand_left: np.ndarray | None = None,
    hand_right: np.ndarray | None = None,
    face: np.ndarray | None = None,
) -> dict[str, Any]:
    """OpenPose 1.3 JSON document for one person (BODY_25, hands 21, face 70; absent parts are zeros)."""
    zeros = lambda n: np.zeros((n, 3))  # noqa: E731
    person = {
        "person_id": [-1],
        "pose_keypoints_2d": _flat(body, 25),
        "face_keypoints_2d": _flat(zeros(70) if face is None else face, 70),
        "hand_left_keypoints_2d": _flat(zeros(21) if hand_left is None else hand_left, 21),
        "hand_right_keypoints_2d": _flat(zeros(21) if hand_right is None else hand_right, 21),
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return {"version": 1.3, "people": [person]}


def write_openpose_json(path: str | os.PathLike[str], result: Any) -> None:
    """Write a :class:`~pipeline.annotate.pose.PoseResult` as an OpenPose JSON file, atomically."""
    doc = to_openpose_dict(result.body, result.hand_left, result.hand_right, result.face)
    write_text(path, json.dumps(doc) + "\n")


def parse_openpose_dict(doc: dict[str, Any]) -> list[OpenPosePerson]:
    """People of an OpenPose JSON document (1.0 to 1.7); raises ``ValueError`` on odd content."""
    people = doc.get("people")
    if not isinstance(people, list):
        raise ValueError("OpenPose JSON has no 'people' list")
    out = []
    for person in people:
        raw = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        if raw is None:
            raise ValueError("person without pose_keypoints_2d / pose_keypoints")
        body = np.asarray(raw, dtype=np.float64).reshape(-1, 3) if len(raw) else np.zeros((0, 3))
        fmt = _FORMATS.get(body.shape[0])
        if fmt is None:
            raise ValueError(f"unsupported body model with {body.shape[0]} keypoints (expected 25 or 18)")

        def part(*keys: str, n: int) -> np.ndarray:
            for key in keys:
                vals = person.get(key)
                if vals:
                    return np.asarray(vals, dtype=np.float64).reshape(-1, 3)
            return np.zeros((n, 3))

        out.append(
            OpenPosePerson(
                body=body,
                format=fmt,
                hand_left=part("hand_left_keypoints_2d", "hand_left_keypoints", n=21),
                hand_right=part("hand_right_keypoints_2d", "hand_right_keypoints", n=21),
                face=part("face_keypoints_2d", "face_keypoints", n=70),
            )
        )
    return out


def read_openpose_json(path: str | os.PathLike[str]) -> OpenPosePerson | None:
    """The main person of an OpenPose JSON file (the one with the largest keypoint extent), or None."""
    people = parse_openpose_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    if not people:
        return None
    return max(people, key=lambda p: _extent(p.body))


def _extent(kp: np.ndarray) -> float:
    pts = kp[kp[:, 2] > 0, :2]
    if len(pts) < 2:
        return 0.0
    span = pts.max(axis=0) - pts.min(axis=0)
    return float(span[0] * span[1])


def render_skeleton(
    body: np.ndarray,
    width: int,
    height: int,
    hand_left: np.ndarray | None = None,
    hand_right: np.ndarray | None = None,
) -> np.ndarray:
    """HxWx3 uint8 RGB picture of a BODY_25 skeleton on black, drawn the way OpenPose does."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    body = np.asarray(body, dtype=np.float64).reshape(-1, 3)
    scale = float(np.sqrt(width * height))
    half_width = max(1, int(round(scale / 220)))
    radius = max(2, int(round(scale / 140)))
    limbs = np.zeros_like(canvas)
    for a, b in BODY25_PAIRS:
        if body[a, 2] <= 0 or body[b, 2] <= 0:
            continue
        (x0, y0), (x1, y1) = body[a, :2], body[b, :2]
        length = float(np.hypot(x1 - x0, y1 - y0))
        angle = float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))
        centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
        poly = cv2.ellipse2Poly(centre, (max(1, int(length / 2)), half_width), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(limbs, poly, BODY25_COLORS[b])
    # OpenPose blends limbs at 60 % over the (black) background.
    canvas = (limbs.astype(np.float32) * 0.6).astype(np.uint8)
    for i in range(body.shape[0]):
        if body[i, 2] > 0:
            centre = (int(round(body[i, 0])), int(round(body[i, 1])))
            cv2.circle(canvas, centre, radius, BODY25_COLORS[i], thickness=-1, lineType=cv2.LINE_AA)
    for hand in (hand_left, hand_right):
        if hand is None:
            continue
        hand = np.asarray(hand, dtype=np.float64).reshape(-1, 3)
        for k, (a, b) in enumerate(HAND_PAIRS):
            if hand[a, 2] > 0 and hand[b, 2] > 0:
                color = _hand_color(k)
                p0 = tuple(int(round(v)) for v in hand[a, :2])
                p1 = tuple(int(round(v)) for v in hand[b, :2])
                cv2.line(canvas, p0, p1, color, max(1, half_width // 2), cv2.LINE_AA)
    return canvas


def _hand_color(k: int) -> tuple[int, int, int]:
    hsv = np.uint8([[[int(180 * k / 20), 255, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)
