"""Body, face and hand landmarks plus a person mask, from the models inside the mediapipe wheel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The face-mesh outline (mediapipe FACEMESH_FACE_OVAL) as one ordered closed path.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
CHIN = 152


@dataclass
class BodyLandmarks:
    """Landmarks in pixel coordinates of the picture they were found on.

    ``pose`` is 33 x 3 (x, y, visibility) in BlazePose order, where "left" is the
    subject's left, the same convention CIHP uses. ``left_hand`` is the subject's left.
    """

    pose: np.ndarray
    face: np.ndarray | None
    left_hand: np.ndarray | None
    right_hand: np.ndarray | None
    person_prob: np.ndarray


class LandmarkDetector:
    """Holistic (pose, face mesh, hands, pose segmentation) plus the selfie segmenter."""

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5) -> None:
        import mediapipe as mp

        self._holistic = mp.solutions.holistic.Holistic(
            static_image_mode=True,
            model_complexity=model_complexity,
            enable_segmentation=True,
            refine_face_landmarks=False,
            min_detection_confidence=min_detection_confidence,
        )
        self._selfie = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def detect(self, rgb: np.ndarray) -> BodyLandmarks | None:
        """Landmarks of the most prominent person, or None when there is nobody."""
        h, w = rgb.shape[:2]
        res = self._holistic.process(rgb)
        if res.pose_landmarks is None:
            return None
        pose = np.array([(p.x * w, p.y * h, p.visibility) for p in res.pose_landmarks.landmark], np.float32)

        def pts(lms: object) -> np.ndarray | None:
            if lms is None:
                return None
            return np.array([(p.x * w, p.y * h) for p in lms.landmark], np.float32)  # type: ignore[attr-defined]

        selfie = self._selfie.process(rgb).segmentation_mask
        seg = res.segmentation_mask
        # The two segmenters err in different places (pose: loose hair and hems;
        # selfie: limbs far from the torso); their mean beat either on VITON-HD.
        prob = selfie if seg is None else (np.asarray(seg, np.float32) + np.asarray(selfie, np.float32)) / 2
        return BodyLandmarks(
            pose=pose,
            face=pts(res.face_landmarks),
            left_hand=pts(res.left_hand_landmarks),
            right_hand=pts(res.right_hand_landmarks),
            person_prob=np.asarray(prob, np.float32),
        )

    def close(self) -> None:
        """Free the graphs."""
        self._holistic.close()
        self._selfie.close()

# Brows, eyes, nose tip and mouth corners: their hull is face whatever its colour.
FACE_FEATURES = (
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300, 33, 133, 159, 145, 362, 263, 386, 374,
    1, 4, 61, 291, 0, 17,
)
