"""Body, face and hand landmarks plus a person mask, from the models inside the mediapipe wheel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.annotate.detection_retry import DetectionAttempt, detection_attempts, first_detection, pad_picture
from pipeline.annotate.mediapipe_graph import process_alone
from pipeline.native_logs import started_graph

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
    """Holistic (pose, face mesh, hands, pose segmentation) plus the selfie segmenter.

    ``detect`` runs the shared retry ladder of :mod:`pipeline.annotate.detection_retry`
    (padded copy, lower threshold) when the first try finds nobody, as the pose
    annotator does, so both stages agree on who is in a picture.
    """

    def __init__(
        self, model_complexity: int = 1, min_detection_confidence: float = 0.5,
        retry_min_detection_confidence: float = 0.1, retry_pad_fraction: float = 0.2,
    ) -> None:
        import mediapipe as mp

        self._complexity = model_complexity
        self._holistic: dict[float, object] = {}
        self.attempts = detection_attempts(min_detection_confidence, retry_min_detection_confidence, retry_pad_fraction)
        self._graph(min_detection_confidence)  # load now so a broken install fails early
        self._selfie = started_graph(mp.solutions.selfie_segmentation.SelfieSegmentation, model_selection=0)
        self.last_attempt = ""

    def _graph(self, min_conf: float) -> object:
        """Holistic at detection threshold ``min_conf``, built on first use (retries are rare)."""
        if min_conf not in self._holistic:
            import mediapipe as mp

            self._holistic[min_conf] = started_graph(
                mp.solutions.holistic.Holistic,
                static_image_mode=True,
                model_complexity=self._complexity,
                enable_segmentation=True,
                refine_face_landmarks=False,
                min_detection_confidence=min_conf,
            )
        return self._holistic[min_conf]

    def detect(self, rgb: np.ndarray) -> BodyLandmarks | None:
        """Landmarks of the most prominent person, or None when no attempt finds anybody."""
        hit = first_detection(self.attempts, lambda a: self._holistic_once(rgb, a))
        if hit is None:
            return None
        attempt, (res, pad) = hit
        self.last_attempt = attempt.name
        h, w = rgb.shape[:2]
        ph, pw = h + 2 * pad, w + 2 * pad

        def pts(lms: object, with_vis: bool = False) -> np.ndarray | None:
            if lms is None:
                return None
            rows = [
                (p.x * pw - pad, p.y * ph - pad) + ((p.visibility,) if with_vis else ())
                for p in lms.landmark  # type: ignore[attr-defined]
            ]
            return np.array(rows, np.float32)

        selfie = np.asarray(self._selfie.process(rgb).segmentation_mask, np.float32)
        seg = res.segmentation_mask
        # The two segmenters err in different places (pose: loose hair and hems;
        # selfie: limbs far from the torso); their mean beat either on VITON-HD.
        if seg is None:
            prob = selfie
        else:
            prob = (np.asarray(seg, np.float32)[pad : pad + h, pad : pad + w] + selfie) / 2
        return BodyLandmarks(
            pose=pts(res.pose_landmarks, with_vis=True),  # type: ignore[arg-type]
            face=pts(res.face_landmarks),
            left_hand=pts(res.left_hand_landmarks),
            right_hand=pts(res.right_hand_landmarks),
            person_prob=prob,
        )

    def _holistic_once(self, rgb: np.ndarray, attempt: DetectionAttempt) -> tuple[object, int] | None:
        img, pad = pad_picture(rgb, attempt.pad_fraction)
        res = process_alone(self._graph(attempt.min_confidence), img)
        return None if res.pose_landmarks is None else (res, pad)

    def close(self) -> None:
        """Free the graphs."""
        for graph in self._holistic.values():
            graph.close()  # type: ignore[attr-defined]
        self._holistic.clear()
        self._selfie.close()


# Brows, eyes, nose tip and mouth corners: their hull is face whatever its colour.
FACE_FEATURES = (
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300, 33, 133, 159, 145, 362, 263, 386, 374,
    1, 4, 61, 291, 0, 17,
)
