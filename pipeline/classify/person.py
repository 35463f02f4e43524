"""Is there a person wearing clothes in a picture? MediaPipe Pose, loaded once, on a small copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.classify.config import PersonRule
from pipeline.classify.garment import downscale
from pipeline.classify.skin import skin_evidence
from pipeline.native_logs import quiet_process, started_graph

# The mediapipe wheel ships only the "full" landmark model; the legacy API would try to
# download the others at run time, which this project never does.
_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}

# MediaPipe Pose landmark ids (BlazePose 33-point topology).
L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24


@dataclass(frozen=True)
class PersonResult:
    """Outcome of the person check. Coordinates are fractions of the full image."""

    is_person: bool
    reason: str  # a reject reason when the picture shows a body but not a usable one
    pose_found: bool
    people: int  # faces counted (at least 1 when a usable pose was found)
    selected: str  # how the pose was found: "whole_image", "largest_face" (several people) or "padded" (retry)
    shoulder_visibility: float
    hip_visibility: float
    shoulder_width: float
    shoulder_y: float
    hip_y: float

    @staticmethod
    def none(people: int = 0) -> PersonResult:
        """No pose at all."""
        return PersonResult(False, "", False, people, "whole_image", 0.0, 0.0, 0.0, 0.0, 0.0)


def pose_model_path(complexity: int) -> Path:
    """Where the installed mediapipe package keeps the landmark model for ``complexity``."""
    import mediapipe

    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / _POSE_MODELS[complexity]


class PersonDetector:
    """MediaPipe Pose (static images) plus a face counter; create once, reuse for every image."""

    def __init__(self, rule: PersonRule) -> None:
        model = pose_model_path(rule.model_complexity)
        if not model.is_file():
            raise FileNotFoundError(
                f"MediaPipe model {model.name} is not installed (mediapipe ships only "
                f"{_POSE_MODELS[1]}); set classify.person.model_complexity to 1 or place the model at {model}."
            )
        import mediapipe as mp

        self.rule = rule
        self._pose = started_graph(
            mp.solutions.pose.Pose,
            static_image_mode=True,
            model_complexity=rule.model_complexity,
            enable_segmentation=False,
            min_detection_confidence=rule.min_detection_confidence,
        )
        self._faces = (
            started_graph(mp.solutions.face_detection.FaceDetection, model_selection=1,
                          min_detection_confidence=rule.min_face_confidence)
            if rule.count_faces
            else None
        )

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self._pose.close()
        if self._faces is not None:
            self._faces.close()

    def __enter__(self) -> PersonDetector:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def faces(self, small: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes ``(x, y, w, h)`` as fractions of the image, largest first."""
        if self._faces is None:
            return []
        result = quiet_process(self._faces, small)
        boxes = []
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            boxes.append((b.xmin, b.ymin, b.width, b.height))
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def _landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """``33x4`` array of (x, y, z, visibility) in fractions of ``rgb``, or None."""
        result = quiet_process(self._pose, np.ascontiguousarray(rgb))
        if not result.pose_landmarks:
            return None
        return np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], dtype=np.float64)

    def detect(self, rgb: np.ndarray) -> PersonResult:
        """Run the rule of :class:`PersonRule` on an RGB array of any size."""
        small = downscale(rgb, self.rule.detect_max_side)
        h, w = small.shape[:2]
        faces = self.faces(small)
        selected = "whole_image"
        marks = None
        if len(faces) >= 2:
            # Several people: measure the biggest one, from a crop around their face.
            fx, fy, fw, fh = faces[0]
            x0 = max(0.0, fx + fw / 2 - self.rule.crop_face_widths * fw)
            x1 = min(1.0, fx + fw / 2 + self.rule.crop_face_widths * fw)
            y0 = max(0.0, fy - 0.5 * fh)
            px0, px1, py0 = int(x0 * w), max(int(x0 * w) + 16, int(round(x1 * w))), int(y0 * h)
            crop = small[py0:, px0:px1]
            crop_marks = self._landmarks(crop)
            if crop_marks is not None:
                ch, cw = crop.shape[:2]
                crop_marks[:, 0] = (px0 + crop_marks[:, 0] * cw) / w
                crop_marks[:, 1] = (py0 + crop_marks[:, 1] * ch) / h
                marks, selected = crop_marks, "largest_face"
        if marks is None:
            marks = self._landmarks(small)
        if marks is None and self.rule.retry_padded:
            # Tight head-and-shoulders crops sometimes defeat the pose detector; room
            # below and beside the body (edge pixels repeated) usually brings it back.
            pad_y, pad_x = h // 2, h // 4
            padded = cv2.copyMakeBorder(small, 0, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)
            marks = self._landmarks(padded)
            if marks is not None:
                marks[:, 0] = (marks[:, 0] * padded.shape[1] - pad_x) / w
                marks[:, 1] = marks[:, 1] * padded.shape[0] / h
                selected = "padded"
        if marks is None:
            return PersonResult.none(len(faces))
        return self._judge(marks, faces, selected, small)

    def _has_evidence(self, marks: np.ndarray, faces: int, small: np.ndarray) -> bool:
        """A face, or skin at the arms and neck with a covered torso (see PersonRule)."""
        rule = self.rule
        if not rule.require_evidence or faces:
            return True
        evidence = skin_evidence(small, marks, rule.skin_radius)
        return evidence.is_person(rule.skin_fraction, rule.min_skin_sites, rule.max_covered_skin,
                                  rule.min_skin_contrast, rule.min_covered_gap)

    def _judge(self, marks: np.ndarray, face_boxes: list[tuple[float, float, float, float]], selected: str,
               small: np.ndarray) -> PersonResult:
        rule = self.rule
        shoulder_vis = float(min(marks[L_SHOULDER, 3], marks[R_SHOULDER, 3]))
        hip_vis = float(min(marks[L_HIP, 3], marks[R_HIP, 3]))
        shoulder_width = float(abs(marks[L_SHOULDER, 0] - marks[R_SHOULDER, 0]))
        shoulder_y = float((marks[L_SHOULDER, 1] + marks[R_SHOULDER, 1]) / 2)
        hip_y = float((marks[L_HIP, 1] + marks[R_HIP, 1]) / 2)
        faces = len(face_boxes)
        # MediaPipe sometimes squeezes the shoulders of a real model together, so the
        # torso counts as big enough when either its width or its height is.
        torso_size = max(shoulder_width, min(hip_y, 1.0) - shoulder_y)
        plausible = shoulder_vis >= rule.min_shoulder_visibility and hip_y > shoulder_y and torso_size >= rule.min_torso_size
        if not plausible or not self._has_evidence(marks, faces, small):
            # Shoulders hidden, a sliver of a torso, hips above shoulders, or no face and no
            # skin: MediaPipe "sees" poses in flat garments too, so this is no person at all.
            return PersonResult(False, "", True, faces, selected, shoulder_vis, hip_vis, shoulder_width, shoulder_y, hip_y)
        torso = hip_y <= rule.max_hip_y and hip_vis >= rule.min_hip_visibility
        return PersonResult(
            torso,
            "" if torso else "person_without_torso",
            True,
            max(faces, 1),
            selected,
            shoulder_vis,
            hip_vis,
            shoulder_width,
            shoulder_y,
            hip_y,
        )
