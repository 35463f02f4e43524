"""Person pose in OpenPose BODY_25 form, estimated with MediaPipe Holistic.

MediaPipe Holistic (``mediapipe.solutions.holistic``, static-image mode, models
shipped inside the mediapipe wheel) gives 33 body landmarks, 21 points per hand
and a 468-point face mesh; :mod:`pipeline.annotate.body25` turns them into
OpenPose's BODY_25, hand-21 and face-70 keypoints in pixels of the input image.

Holistic finds one person per image (its most confident detection). To keep
the largest person when there are several, the person found is hidden (their
box filled with the picture's border colour) and Holistic runs once more; when
a second, separate person turns up (upright, with a face: see
:func:`looks_like_a_person`), the one whose visible landmarks span the
larger area of the picture is kept and
``PoseResult.people_found`` is 2 (the stage counts such images). More than two
people are not looked for. Images where nobody is found are retried (padded
copy, then lower detection thresholds; the ladder in
:mod:`pipeline.annotate.detection_retry`, which the human parser runs too)
before giving up with ``None``.

Test-time averaging (``PoseConfig.average_pads``, ``PoseConfig.flip_average``):
the body landmarks are estimated again on copies of the picture, padded by
each fraction in ``average_pads`` (edges replicated) and, with
``flip_average``, mirrored (plain ``mediapipe.solutions.pose``, the same
landmark model Holistic uses, without the hand and face models). Each landmark
is the median, coordinate by coordinate, of all the estimates. The landmark
model sees a differently framed crop each time and errs differently where it
is unsure (an arm across the body, a hand on the hip, a knee at the frame
edge), so the median moves those joints toward the truth and ignores one
stray pass; where the passes agree it changes nothing. Measured against
OpenPose's own annotations (PCK@0.1, hips refined as the stage does):

==========================================  ===============  ============
passes                                      VITON-HD 16      VITON 12
==========================================  ===============  ============
one                                         0.904            0.976
mirrored pair (weighted mean, earlier)      0.916            0.976
pads 0, 0.1, 0.25 x mirrored (median)       0.929            0.976
==========================================  ===============  ============

The three joints gained (an elbow, a knee, a hip, in three photos) were all
misses of the pair, and no joint was lost. Subsets of the six passes spread
more (VITON-HD: 0.904-0.933 for the 20 choices of three, 0.916-0.933 for five),
so all six are used rather than the best-scoring few. A pass that finds
nobody, or someone else (its shoulders and hips more than
``pass_max_disagreement`` torso lengths from the first estimate's), is left out.
Each extra pass costs about 0.03 s of CPU at 768x1024. The second-person check
also runs the plain pose model (it needs no hands or face).

Without a face (Dress Code cuts its models at the nose) the passes may not agree on which
way the body faces: some fold it onto one vertical line, some see it from the front, some
from behind. :func:`_facing_passes` leaves the folded ones out (``PoseConfig.min_body_span``)
and gives the rest the left and right of their majority, a tie facing the camera; on
``dresscode15`` that took PCK@0.1 from 0.903 to 0.943 (one photo had both shoulders on the
breastbone) and changed nothing on VITON (``viton256/val`` 0.965, VITON-HD 16 0.925).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.annotate.body25 import (
    MP_L_HIP,
    MP_L_SHOULDER,
    MP_L_WRIST,
    MP_MIRROR,
    MP_NOSE,
    MP_R_HIP,
    MP_R_SHOULDER,
    MP_R_WRIST,
    Body25Corrections,
    face_mesh_to_face70,
    mediapipe_to_body25,
    points_to_openpose,
)
from pipeline.annotate.detection_retry import detection_attempts, first_detection, pad_picture, upscale_factor
from pipeline.annotate.mediapipe_graph import process_alone
from pipeline.config_mapping import from_mapping
from pipeline.log import get_logger
from pipeline.native_logs import quiet_process, started_graph

log = get_logger(__name__)

# model_complexity → the pose landmark model mediapipe loads for it.
_POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


class PoseModelMissing(RuntimeError):
    """The MediaPipe model a config asks for is not installed."""


@dataclass(frozen=True)
class PoseConfig:
    """How to run MediaPipe Holistic and turn its output into OpenPose keypoints."""

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    retry_min_detection_confidence: float = 0.1
    retry_pad_fraction: float = 0.2
    min_visibility: float = 0.2
    upscale_below: int = 512
    upscale_target: int = 1024
    hands: bool = True
    face: bool = True
    corrections: bool = True
    check_other_people: bool = True
    flip_average: bool = True
    # Border widths (fractions of the longer side) of the copies the landmarks are averaged over.
    average_pads: tuple[float, ...] = (0.0, 0.1, 0.25)
    pass_max_disagreement: float = 0.25
    # Shoulder-plus-hip span (body_span) below which a pass has folded the body sideways
    # (see _facing_passes); 0.3 is its 0.5th percentile in viton256/train's OpenPose
    # annotations (0.304 over 6,508 photos; median 0.54).
    min_body_span: float = 0.3
    # Hip refinement from a parse map (pipeline.annotate.hip_refine); both pulls 0 disable it.
    # Fitted on 1,088 viton256/train photos (pipeline.annotate.hip_refine says how).
    hem_pull_down: float = 0.5
    hem_pull_up: float = 0.0
    hem_max_distance: float = 0.5
    # The pull on photos that show both ankles too (outside the framing it was fitted on; see hip_refine).
    hem_pull_full_body: bool = False
    # A keypoint refiner trained on a data set's own poses (stage train_pose_refine,
    # pipeline.models.keypoint_refiner): a folder holding refiner.onnx and meta.json, or "" for none.
    # It runs on every pose, before the hip pull above (set hem_pull_down: 0 beside it; docs/annotation.md).
    refiner_model: str = ""
    refiner_threads: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PoseConfig":
        """Build from a params mapping; unknown keys and out-of-range values raise ``ValueError``."""
        cfg = from_mapping(cls, data, "pose")
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ``ValueError`` naming the offending param."""
        if self.model_complexity not in _POSE_MODELS:
            raise ValueError(f"pose.model_complexity must be 0, 1 or 2, got {self.model_complexity!r}")
        for name in ("min_detection_confidence", "retry_min_detection_confidence", "min_visibility"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"pose.{name} must be in [0, 1], got {value!r}")
        if not 0.0 <= self.retry_pad_fraction <= 1.0:
            raise ValueError(f"pose.retry_pad_fraction must be in [0, 1], got {self.retry_pad_fraction!r}")
        if not 0.0 <= self.min_body_span < 1.0:
            raise ValueError(f"pose.min_body_span must be in [0, 1), got {self.min_body_span!r}")
        if not self.pass_max_disagreement > 0:
            raise ValueError(f"pose.pass_max_disagreement must be > 0, got {self.pass_max_disagreement!r}")
        pads = self.average_pads
        if not isinstance(pads, tuple) or any(not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0 for p in pads):
            raise ValueError(f"pose.average_pads must be a list of fractions in [0, 1], got {pads!r}")
        for name in ("hem_pull_down", "hem_pull_up"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"pose.{name} must be in [0, 1], got {value!r}")
        if self.refiner_threads < 1:
            raise ValueError(f"pose.refiner_threads must be >= 1, got {self.refiner_threads!r}")
        if not self.hem_max_distance >= 0:
            raise ValueError(f"pose.hem_max_distance must be >= 0, got {self.hem_max_distance!r}")
        if self.upscale_below < 0 or self.upscale_target < 1:
            raise ValueError("pose.upscale_below must be >= 0 and pose.upscale_target >= 1")


@dataclass
class PoseResult:
    """One person's keypoints in pixels of the input image, OpenPose layout (``x, y, confidence``).

    Body confidence is MediaPipe's landmark visibility. Hand points carry the
    visibility of the body's wrist on that side and face points that of the
    nose (MediaPipe gives no per-point score for them); points off the image,
    or a hand or face not found, are ``0, 0, 0``.
    """

    body: np.ndarray  # (25, 3) BODY_25
    hand_left: np.ndarray  # (21, 3)
    hand_right: np.ndarray  # (21, 3)
    face: np.ndarray  # (70, 3)
    width: int
    height: int
    landmarks: np.ndarray  # (33, 3) raw MediaPipe pose landmarks in pixels, visibility
    attempt: str = "primary"
    people_found: int = 1


def pose_model_path(model_complexity: int) -> Path:
    """Where the mediapipe wheel keeps the pose landmark model for ``model_complexity``."""
    import mediapipe

    return Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / _POSE_MODELS[model_complexity]


def check_pose_model(model_complexity: int) -> None:
    """Fail with one clear sentence when the model for ``model_complexity`` is not installed.

    mediapipe would otherwise try to download it at run time, which this project never does.
    """
    path = pose_model_path(model_complexity)
    if not path.is_file():
        shipped = sorted(k for k in _POSE_MODELS if pose_model_path(k).is_file())
        raise PoseModelMissing(
            f"pose.model_complexity={model_complexity} needs {path.name}, which the installed mediapipe "
            f"wheel does not ship (available: {shipped}); set pose.model_complexity to one of those."
        )


class PoseEstimator:
    """Loads MediaPipe Holistic once and estimates one person's OpenPose keypoints per image."""

    def __init__(self, config: PoseConfig = PoseConfig()) -> None:
        config.validate()
        check_pose_model(config.model_complexity)
        self.config = config
        self._corrections = Body25Corrections() if config.corrections else Body25Corrections.none()
        self._models: dict[tuple[str, float], Any] = {}
        self._model(config.min_detection_confidence)  # load now so a broken install fails early
        if config.check_other_people or self._extra_passes(0.0):
            self._model(config.min_detection_confidence, holistic=False)
        self._refiner = None
        if config.refiner_model:
            from pipeline.annotate.pose_refiner import PoseRefiner

            self._refiner = PoseRefiner(config.refiner_model, config.refiner_threads)

    def _model(self, min_conf: float, holistic: bool = True) -> Any:
        """Holistic (body, hands, face) or the plain pose graph (body only, same landmark model), cached."""
        key = ("holistic" if holistic else "pose", min_conf)
        if key not in self._models:
            import mediapipe as mp

            if holistic:
                self._models[key] = started_graph(
                    mp.solutions.holistic.Holistic,
                    static_image_mode=True,
                    model_complexity=self.config.model_complexity,
                    min_detection_confidence=min_conf,
                    refine_face_landmarks=False,
                )
            else:
                self._models[key] = started_graph(
                    mp.solutions.pose.Pose,
                    static_image_mode=True,
                    model_complexity=self.config.model_complexity,
                    min_detection_confidence=min_conf,
                )
        return self._models[key]

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for model in self._models.values():
            model.close()
        self._models.clear()

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def estimate(self, rgb: np.ndarray) -> PoseResult | None:
        """Keypoints of the person in an HxWx3 uint8 RGB image, or None when nobody is found."""
        rgb = _as_rgb(rgb)
        height, width = rgb.shape[:2]
        scale = self._upscale_factor(width, height)
        work = rgb if scale == 1 else cv2.resize(rgb, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
        cfg = self.config
        attempts = detection_attempts(
            cfg.min_detection_confidence, cfg.retry_min_detection_confidence, cfg.retry_pad_fraction
        )
        hit = first_detection(attempts, lambda a: self._run(work, a.min_confidence, a.pad_fraction))
        if hit is None:
            return None
        attempt, found = hit
        min_conf, pad_frac = attempt.min_confidence, attempt.pad_fraction
        if attempt.name != "primary":
            log.debug("pose found on retry", attempt=attempt.name)
        people = 1
        source = work
        if cfg.check_other_people:
            other = self._other_person(work, found["pose"], min_conf, pad_frac)
            if other is not None:
                people = 2
                hidden, other_pose = other
                if _visible_area(other_pose, work.shape) > _visible_area(found["pose"], work.shape):
                    # The check ran body-only; the kept person needs hands and face too.
                    kept = self._run(hidden, min_conf, pad_frac)
                    if kept is not None:
                        found, source = kept, hidden
        found["pose"] = self._averaged(source, found["pose"], min_conf, pad_frac)
        result = self._to_result(found, scale, width, height, attempt.name)
        result.people_found = people
        if self._refiner is not None:
            result.body = self._refiner.refine(result.body, rgb)
        return result

    def _other_person(
        self, img: np.ndarray, first: np.ndarray, min_conf: float, pad_frac: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(picture with ``first`` hidden, landmarks of a second, separate person found in it), else None."""
        box = _person_box(first, img.shape[1], img.shape[0])
        if box is None:
            return None
        x0, y0, x1, y1 = box
        hidden = img.copy()
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        hidden[y0:y1, x0:x1] = np.median(border, axis=0).astype(np.uint8)
        other = self._run(hidden, min_conf, pad_frac, holistic=False)
        if other is None:
            return None
        lm = other["pose"]
        core = [MP_L_SHOULDER, MP_R_SHOULDER]
        if (lm[core, 2] < 0.5).any() or not looks_like_a_person(lm):
            return None  # a phantom in the filled box or in leftover hair, a hat or a helmet
        centre = lm[core, :2].mean(axis=0)
        if x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1:
            return None  # the same person again
        return hidden, lm

    def _extra_passes(self, primary_pad: float) -> list[tuple[float, bool]]:
        """(pad, mirrored) of each averaging pass besides the primary one (see the module docstring)."""
        flips = (False, True) if self.config.flip_average else (False,)
        pads = dict.fromkeys((primary_pad, *self.config.average_pads))
        return [(pad, flip) for pad in pads for flip in flips if (pad, flip) != (primary_pad, False)]

    def _averaged(self, img: np.ndarray, lm: np.ndarray, min_conf: float, pad_frac: float) -> np.ndarray:
        """``lm`` combined with the landmarks of the extra passes: the median of each coordinate."""
        estimates = [lm]
        limit = self.config.pass_max_disagreement * max(_torso_length(lm), 1.0)
        for pad, mirrored in self._extra_passes(pad_frac):
            picture = np.ascontiguousarray(img[:, ::-1]) if mirrored else img
            found = self._run(picture, min_conf, pad, holistic=False)
            if found is None:
                continue
            other = found["pose"]
            if mirrored:
                other = other[list(MP_MIRROR)]
                other[:, 0] = img.shape[1] - other[:, 0]
            swapped = other[list(MP_MIRROR)]
            if min(_core_distance(lm, other), _core_distance(lm, swapped)) > limit:
                continue  # this pass found someone else
            estimates.append(other)
        estimates = _facing_passes(estimates, self.config.min_body_span)
        if len(estimates) == 1:
            return estimates[0].copy()
        stack = np.stack(estimates)
        out = lm.copy()
        out[:, :2] = np.median(stack[:, :, :2], axis=0)
        out[:, 2] = stack[:, :, 2].mean(axis=0)
        return out

    def _upscale_factor(self, width: int, height: int) -> int:
        return upscale_factor(width, height, self.config.upscale_below, self.config.upscale_target)

    def _run(
        self, img: np.ndarray, min_conf: float, pad_frac: float, holistic: bool = True
    ) -> dict[str, np.ndarray] | None:
        img, pad = pad_picture(img, pad_frac)
        graph = self._model(min_conf, holistic)
        # The plain pose graph forgets each picture in static mode; Holistic does not (see mediapipe_graph).
        res = process_alone(graph, img) if holistic else quiet_process(graph, img)
        if res.pose_landmarks is None:
            return None
        h, w = img.shape[:2]

        def pixels(lms: Any, with_vis: bool = False) -> np.ndarray | None:
            if lms is None:
                return None
            cols = [[lm.x * w - pad, lm.y * h - pad] + ([lm.visibility] if with_vis else []) for lm in lms.landmark]
            return np.asarray(cols, dtype=np.float64)

        return {
            "pose": pixels(res.pose_landmarks, with_vis=True),
            "left_hand": pixels(getattr(res, "left_hand_landmarks", None)),
            "right_hand": pixels(getattr(res, "right_hand_landmarks", None)),
            "face": pixels(getattr(res, "face_landmarks", None)),
        }

    def _to_result(self, found: dict[str, Any], scale: int, width: int, height: int, attempt: str) -> PoseResult:
        lm = found["pose"].copy()
        lm[:, :2] /= scale
        body = mediapipe_to_body25(lm, width, height, self.config.min_visibility, self._corrections)
        hand_left = np.zeros((21, 3))
        hand_right = np.zeros((21, 3))
        if self.config.hands:
            left, right = _assign_hands(found["left_hand"], found["right_hand"], lm, scale)
            if left is not None:
                hand_left = points_to_openpose(left, float(lm[MP_L_WRIST, 2]), width, height)
            if right is not None:
                hand_right = points_to_openpose(right, float(lm[MP_R_WRIST, 2]), width, height)
        face = np.zeros((70, 3))
        if self.config.face and found["face"] is not None:
            face = points_to_openpose(face_mesh_to_face70(found["face"] / scale), float(lm[0, 2]), width, height)
        return PoseResult(body, hand_left, hand_right, face, width, height, lm, attempt)


def looks_like_a_person(lm: np.ndarray) -> bool:
    """Whether MediaPipe landmarks ``(33, 3)`` show an upright body with a face.

    What MediaPipe reports in the leftovers of a hidden person (hair or a hat
    above the box, a helmet held beside the body) has a torso lying sideways or
    upside down, or no face: on the demo shop's 129 photos all eight such
    "second people" failed one of the two tests. Hips must lie below the
    shoulders within 45 degrees of vertical and the nose be visible (>= 0.5).
    """
    down = _torso_vector(lm)
    upright = down[1] > 0 and abs(down[0]) <= down[1]
    return bool(upright and lm[MP_NOSE, 2] >= 0.5)


def _core_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of the shoulders and hips of two landmark sets, in pixels."""
    core = [MP_L_SHOULDER, MP_R_SHOULDER, MP_L_HIP, MP_R_HIP]
    return float(np.linalg.norm(a[core, :2] - b[core, :2], axis=1).mean())


def body_span(lm: np.ndarray) -> float:
    """Signed width of shoulders plus hips over twice the torso length: > 0 facing the camera.

    Facing the camera, the person's left side lies at larger x; from behind the sign flips.
    """
    width = (lm[MP_L_SHOULDER, 0] - lm[MP_R_SHOULDER, 0]) + (lm[MP_L_HIP, 0] - lm[MP_R_HIP, 0])
    return float(width / max(2.0 * _torso_length(lm), 1.0))


def _facing_passes(estimates: list[np.ndarray], min_span: float) -> list[np.ndarray]:
    """The passes to take the median of, all with the same left and right.

    Without a face to go by (a model cropped at the chin, as Dress Code's are), MediaPipe is
    unsure whether it sees the body from the front or the back: some passes fold it sideways
    (shoulders and hips on one vertical line), some answer "front", some "back". The median of
    such a mix puts both shoulders in the middle of the chest. Folded passes are left out when
    others see a body of plausible width; the majority of the rest says which way the person
    faces (a tie: the camera, as catalogue and try-on photos do), and a pass that says the other
    way has its left and right swapped, its points kept. Passes that all agree come back as
    they are.
    """
    spans = [body_span(e) for e in estimates]
    if not any(abs(s) >= min_span for s in spans):
        return estimates
    front = sum(s >= min_span for s in spans)
    back = sum(s <= -min_span for s in spans)
    facing_front = front >= back
    kept = []
    for estimate, span in zip(estimates, spans):
        if abs(span) < min_span:
            continue
        kept.append(estimate if (span > 0) == facing_front else estimate[list(MP_MIRROR)])
    return kept


def _torso_vector(lm: np.ndarray) -> np.ndarray:
    """Mid-shoulder to mid-hip, in pixels."""
    shoulders = (lm[MP_L_SHOULDER, :2] + lm[MP_R_SHOULDER, :2]) / 2
    hips = (lm[MP_L_HIP, :2] + lm[MP_R_HIP, :2]) / 2
    return hips - shoulders


def _torso_length(lm: np.ndarray) -> float:
    return float(np.linalg.norm(_torso_vector(lm)))


def _visible_area(lm: np.ndarray, shape: tuple[int, ...]) -> float:
    """Area of the in-picture box around a person's clearly visible landmarks (a size that ignores extrapolated joints)."""
    seen = lm[lm[:, 2] >= 0.5, :2]
    if len(seen) < 2:
        return 0.0
    lo = np.clip(seen.min(axis=0), 0, (shape[1], shape[0]))
    hi = np.clip(seen.max(axis=0), 0, (shape[1], shape[0]))
    return float(np.prod(hi - lo))


def _person_box(lm: np.ndarray, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Box around a person's visible landmarks, grown by a fifth of its size (hair, clothes, hands)."""
    seen = lm[lm[:, 2] >= 0.3, :2]
    if len(seen) < 4:
        return None
    (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
    gx, gy = 0.2 * (x1 - x0) + 0.1 * _torso_length(lm), 0.2 * (y1 - y0) + 0.1 * _torso_length(lm)
    box = (int(max(0, x0 - gx)), int(max(0, y0 - gy)), int(min(width, x1 + gx)), int(min(height, y1 + gy)))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _assign_hands(
    first: np.ndarray | None, second: np.ndarray | None, lm: np.ndarray, scale: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Give each detected hand to the body wrist it sits on (left, right), never both to one side."""
    hands = [h / scale for h in (first, second) if h is not None]
    wrists = (lm[MP_L_WRIST, :2], lm[MP_R_WRIST, :2])
    if not hands:
        return None, None
    if len(hands) == 1:
        d = [np.linalg.norm(hands[0][0] - w) for w in wrists]
        return (hands[0], None) if d[0] <= d[1] else (None, hands[0])
    keep = sum(np.linalg.norm(h[0] - w) for h, w in zip(hands, wrists))
    swap = sum(np.linalg.norm(h[0] - w) for h, w in zip(hands[::-1], wrists))
    return (hands[0], hands[1]) if keep <= swap else (hands[1], hands[0])


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 RGB image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    return np.ascontiguousarray(arr[:, :, :3])
