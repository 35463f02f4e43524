"""MediaPipe landmarks → OpenPose BODY_25 / hand-21 / face-70, with the geometry corrections.

Body table (BODY_25 index ← MediaPipe Pose landmark; "left"/"right" are the
subject's sides in both conventions, so no swap is needed)::

     0 Nose       ← 0 nose               13 LKnee      ← 25 left_knee
     1 Neck       ← mid(11, 12) shoulders 14 LAnkle     ← 27 left_ankle
     2 RShoulder  ← 12 right_shoulder     15 REye       ← 5 right_eye
     3 RElbow     ← 14 right_elbow        16 LEye       ← 2 left_eye
     4 RWrist     ← 16 right_wrist        17 REar       ← 8 right_ear
     5 LShoulder  ← 11 left_shoulder      18 LEar       ← 7 left_ear
     6 LElbow     ← 13 left_elbow         19 LBigToe    ← 31 left_foot_index
     7 LWrist     ← 15 left_wrist         20 LSmallToe  ← estimated from 29 heel, 31 toe
     8 MidHip     ← mid(RHip, LHip)       21 LHeel      ← 29 left_heel
     9 RHip       ← 24 right_hip (+corr.) 22 RBigToe    ← 32 right_foot_index
    10 RKnee      ← 26 right_knee         23 RSmallToe  ← estimated from 30 heel, 32 toe
    11 RAnkle     ← 28 right_ankle        24 RHeel      ← 30 right_heel
    12 LHip       ← 23 left_hip (+corr.)

Confidence is MediaPipe's ``visibility`` (a min over the landmarks a joint is built from).
A joint below ``min_visibility`` or off the image gets ``0, 0, 0`` like OpenPose.

Corrections (``Body25Corrections``), from the offsets between MediaPipe and
OpenPose's own annotations of 28 reference photos (16 VITON-HD BODY_25, 12
VITON COCO-18), kept to the ones with a physical reason:

* Hips: OpenPose (trained on COCO, whose annotators mark the hip near the
  waist on the body's side) puts them higher and a little wider than
  BlazePose's hip-joint centres: each hip moves up by ``hip_raise`` × torso
  length (mid-shoulder → mid-hip) and outward by ``hip_widen`` × shoulder
  width; MidHip follows. Measured: median 0.03 torso higher, hip width 0.65
  vs 0.62 shoulder widths. ``hip_raise`` = 0.05 is where PCK@0.1 peaks on both
  reference sets (VITON-HD alone: 0.05–0.06; VITON alone: 0.02–0.05). The hip
  offset varies a lot from photo to photo (spread about 0.08 torso, either
  sign), so hips remain the least accurate joints. The spread is not MediaPipe
  noise: six MediaPipe passes per photo (mirrored, half size, padded square)
  agree within 0.015 torso lengths while the OpenPose offset ranges from -0.13
  to +0.19. It follows clothing: the offset correlates (r = -0.64 over the 28
  photos) with where the top's hem lies relative to the MediaPipe hip, OpenPose
  being drawn toward that hem. With the reference parse maps' hem a shift of
  0.2-0.3 x (hem - hip), clipped to 0.2 torso, would reach PCK 0.93 / 0.96; a
  hem found from colour alone (chest vs thigh colour) is missing or wrong in
  half of the VITON-HD photos, which are cut just below the hips, and made
  VITON-HD worse, so it is not used. The person silhouette (Holistic's
  segmentation) carries no usable hip cue in clothed photos (r = -0.1 between
  the offset and the silhouette's narrowest row). The hem from our own parse
  map does help: :mod:`pipeline.annotate.hip_refine` applies it after this
  mapping when the pose stage has the parse stage's maps.
* Frame edge: OpenPose's heatmaps only exist inside the picture, so a joint cut
  by the frame lands on the border, whereas MediaPipe extrapolates it outside.
  Joints less than ``edge_margin`` × torso length outside are clamped onto the
  border; farther ones are dropped.
* Not corrected: neck and shoulders (median offsets at most 0.02 torso
  lengths, so the neck stays the mid-shoulder point) and ears (OpenPose's sit
  about 0.03 torso lengths further out, well inside any PCK tolerance).

Small toe: OpenPose's small toe sits beside and a little behind the big toe.
It is placed ``small_toe_back`` foot lengths back from the big toe along the
heel → toe axis and ``small_toe_side`` foot lengths sideways, away from the
other foot.

Hands: MediaPipe's 21 hand landmarks use OpenPose's hand order already (wrist,
then thumb, index, middle, ring, little finger, base to tip).

Face: the 468-point mesh is reduced to the 68 iBUG/dlib points OpenPose uses
(``MESH_TO_FACE68``) plus the two pupils (points 68, 69) taken as the centre of
each eye's six contour points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.config_mapping import check_keys

BODY25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
COCO18_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)
# BODY_25 joints that other modules pick by name.
NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST, MID_HIP, R_HIP = range(10)
R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE = 10, 11, 12, 13, 14
# COCO-18 joint i is BODY_25 joint BODY25_TO_COCO18[i] (BODY_25 only adds MidHip and the feet).
BODY25_TO_COCO18: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)

# MediaPipe Pose landmark ids.
MP_NOSE, MP_L_EYE, MP_R_EYE, MP_L_EAR, MP_R_EAR = 0, 2, 5, 7, 8
MP_L_SHOULDER, MP_R_SHOULDER, MP_L_ELBOW, MP_R_ELBOW, MP_L_WRIST, MP_R_WRIST = 11, 12, 13, 14, 15, 16
MP_L_HIP, MP_R_HIP, MP_L_KNEE, MP_R_KNEE, MP_L_ANKLE, MP_R_ANKLE = 23, 24, 25, 26, 27, 28
MP_L_HEEL, MP_R_HEEL, MP_L_TOE, MP_R_TOE = 29, 30, 31, 32
# Landmark i of a mirrored picture is landmark MP_MIRROR[i] of the original (left and right swap).
MP_MIRROR: tuple[int, ...] = (
    0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
    24, 23, 26, 25, 28, 27, 30, 29, 32, 31,
)

# BODY_25 joints copied straight from one MediaPipe landmark.
DIRECT_MAP: dict[int, int] = {
    0: MP_NOSE, 2: MP_R_SHOULDER, 3: MP_R_ELBOW, 4: MP_R_WRIST, 5: MP_L_SHOULDER,
    6: MP_L_ELBOW, 7: MP_L_WRIST, 9: MP_R_HIP, 10: MP_R_KNEE, 11: MP_R_ANKLE, 12: MP_L_HIP,
    13: MP_L_KNEE, 14: MP_L_ANKLE, 15: MP_R_EYE, 16: MP_L_EYE, 17: MP_R_EAR, 18: MP_L_EAR,
    19: MP_L_TOE, 21: MP_L_HEEL, 22: MP_R_TOE, 24: MP_R_HEEL,
}

# Face mesh ids of the 68 iBUG points, in OpenPose face order (jaw from the
# subject's right, brows, nose bridge, nostrils, right eye, left eye, outer lips, inner lips).
MESH_TO_FACE68: tuple[int, ...] = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)
RIGHT_EYE_MESH: tuple[int, ...] = MESH_TO_FACE68[36:42]
LEFT_EYE_MESH: tuple[int, ...] = MESH_TO_FACE68[42:48]

# OpenPose BODY_25 limbs and colours, in OpenPose's render order (RGB).
BODY25_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)
BODY25_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
    (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
    (0, 170, 255), (0, 85, 255), (0, 0, 255), (255, 0, 170), (170, 0, 255), (255, 0, 255),
    (85, 0, 255), (0, 0, 255), (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255),
    (0, 255, 255),
)
HAND_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (0 if j % 4 == 0 else j, j + 1) for j in range(20)
)


@dataclass(frozen=True)
class Body25Corrections:
    """Systematic MediaPipe → OpenPose offsets, in body units (see the module docstring)."""

    hip_raise: float = 0.05
    hip_widen: float = 0.02
    edge_margin: float = 0.3
    small_toe_back: float = 0.2
    small_toe_side: float = 0.3

    @classmethod
    def none(cls) -> "Body25Corrections":
        """The naive mapping: no offsets, joints off the image dropped."""
        return cls(hip_raise=0.0, hip_widen=0.0, edge_margin=0.0)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Body25Corrections":
        """Build from a mapping, rejecting unknown keys."""
        data = dict(data or {})
        check_keys(cls, data, "pose correction")
        return cls(**{k: float(v) for k, v in data.items()})


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.zeros_like(v)


def mediapipe_to_body25(
    landmarks: np.ndarray,
    width: int,
    height: int,
    min_visibility: float = 0.2,
    corrections: Body25Corrections = Body25Corrections(),
) -> np.ndarray:
    """Map MediaPipe's 33 pose landmarks (pixels x, y, visibility) to BODY_25 ``(25, 3)``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (33, 3):
        raise ValueError(f"expected (33, 3) MediaPipe landmarks, got {lm.shape}")
    p, vis = lm[:, :2], lm[:, 2]
    out = np.zeros((25, 3), dtype=np.float64)
    for b, m in DIRECT_MAP.items():
        out[b] = (p[m, 0], p[m, 1], vis[m])

    mid_sh = (p[MP_L_SHOULDER] + p[MP_R_SHOULDER]) / 2
    mid_hip = (p[MP_L_HIP] + p[MP_R_HIP]) / 2
    torso = float(np.linalg.norm(mid_hip - mid_sh))
    shoulder_w = float(np.linalg.norm(p[MP_L_SHOULDER] - p[MP_R_SHOULDER]))
    down = _unit(mid_hip - mid_sh)
    out[1] = (*mid_sh, min(vis[MP_L_SHOULDER], vis[MP_R_SHOULDER]))

    # Hips: up along the torso axis, outward along the hip line.
    outward_left = _unit(p[MP_L_HIP] - p[MP_R_HIP])
    up = -corrections.hip_raise * torso * down
    side = corrections.hip_widen * shoulder_w * outward_left
    out[9, :2] = p[MP_R_HIP] + up - side
    out[12, :2] = p[MP_L_HIP] + up + side
    out[8] = (*((out[9, :2] + out[12, :2]) / 2), min(vis[MP_L_HIP], vis[MP_R_HIP]))

    for small, heel, toe, other_toe in ((20, MP_L_HEEL, MP_L_TOE, MP_R_TOE), (23, MP_R_HEEL, MP_R_TOE, MP_L_TOE)):
        out[small] = (*_small_toe(p[heel], p[toe], p[other_toe], corrections), min(vis[heel], vis[toe]))

    margin = corrections.edge_margin * torso
    for i in range(25):
        x, y, c = out[i]
        inside = -margin <= x <= width - 1 + margin and -margin <= y <= height - 1 + margin
        if c < min_visibility or not inside or not np.isfinite(out[i]).all():
            out[i] = 0.0
        else:
            out[i, 0] = min(max(x, 0.0), width - 1.0)
            out[i, 1] = min(max(y, 0.0), height - 1.0)
    return out


def _small_toe(heel: np.ndarray, toe: np.ndarray, other_toe: np.ndarray, corr: Body25Corrections) -> np.ndarray:
    axis = toe - heel
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        return toe.copy()
    axis = axis / length
    side = np.array([-axis[1], axis[0]])
    if float(np.dot(side, toe - other_toe)) < 0:  # point away from the other foot
        side = -side
    return toe - corr.small_toe_back * length * axis + corr.small_toe_side * length * side


def points_to_openpose(points: np.ndarray, conf: float, width: int, height: int) -> np.ndarray:
    """Pixel points ``(N, 2)`` → ``(N, 3)`` with ``conf``; points off the image become ``0, 0, 0``."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.zeros((len(pts), 3), dtype=np.float64)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= width - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= height - 1)
    if conf > 0:
        out[inside, :2] = pts[inside]
        out[inside, 2] = conf
    return out


def face_mesh_to_face70(mesh: np.ndarray) -> np.ndarray:
    """468 (or 478) face-mesh pixel points ``(N, 2)`` → OpenPose's 70 face points ``(70, 2)``."""
    mesh = np.asarray(mesh, dtype=np.float64)
    if mesh.ndim != 2 or mesh.shape[0] < 468:
        raise ValueError(f"expected at least 468 face-mesh points, got {mesh.shape}")
    face = np.zeros((70, 2), dtype=np.float64)
    face[:68] = mesh[list(MESH_TO_FACE68), :2]
    face[68] = mesh[list(RIGHT_EYE_MESH), :2].mean(axis=0)
    face[69] = mesh[list(LEFT_EYE_MESH), :2].mean(axis=0)
    return face


def body25_to_coco18(body25: np.ndarray) -> np.ndarray:
    """BODY_25 ``(25, 3)`` → OpenPose COCO-18 ``(18, 3)``."""
    return np.asarray(body25)[list(BODY25_TO_COCO18)].copy()


def torso_length(body: np.ndarray, shortest: float = 0.0) -> float | None:
    """Neck to the middle of the hips of a BODY_25 pose, in pixels; None when one of them is missing
    or the length is not above ``shortest``."""
    body = np.asarray(body, dtype=np.float64).reshape(-1, 3)
    neck, r_hip, l_hip = body[NECK], body[R_HIP], body[L_HIP]
    if min(neck[2], r_hip[2], l_hip[2]) <= 0:
        return None
    size = float(np.linalg.norm(neck[:2] - (r_hip[:2] + l_hip[:2]) / 2))
    return size if size > shortest else None


def coco18_to_body25(coco: np.ndarray) -> np.ndarray:
    """COCO-18 ``(18, 3)`` → BODY_25 ``(25, 3)``; MidHip from the two hips, feet left at zero."""
    coco = np.asarray(coco, dtype=np.float64)
    out = np.zeros((25, 3), dtype=np.float64)
    out[list(BODY25_TO_COCO18)] = coco
    r, l = out[R_HIP], out[L_HIP]
    if r[2] > 0 and l[2] > 0:
        out[MID_HIP] = ((r[0] + l[0]) / 2, (r[1] + l[1]) / 2, min(r[2], l[2]))
    return out
