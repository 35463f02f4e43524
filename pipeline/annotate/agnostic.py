"""The clothing-agnostic person representation used by VITON-HD and HR-VITON.

Try-on models learn to redraw the upper body from a picture in which the worn
garment is hidden. VITON-HD hides it by painting grey shapes drawn from the
pose (thick segments along the arms and the shoulder line, an ellipse at each
joint, a torso quadrilateral between shoulders and hips, a square over the
neck) and then pasting the face and the lower body back from the parse map.
The shapes are deliberately larger than the garment so its silhouette cannot
be read off the grey area. The parse-agnostic map removes the upper-clothes,
neck and (near the pose) arm labels the same way.

Lower-body garments and dresses follow Dress Code's practice. For ``lower_body`` the grey
covers the legs' garment region from just above the hips down to the ankles (bands along the
legs, a waist band, the crotch between hips and knees, and the worn pants or skirt with a
margin), keeping the upper garment, the arms and hands, and the shoes. For ``dresses`` it
covers the upper-body shapes and the lower-body shapes together: shoulders down, arms
included, hands and shoes kept. The parse agnostic removes the labels the new garment may
replace in the same way (the legs too, as the new garment may be longer than the old).

The published sizes are pixels of a 1024-pixel-high image; here every radius
is derived from the shoulder width (image agnostic) or from the image height
(parse agnostic), so the rule gives the same relative mask at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.annotate.body25 import (
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    MID_HIP,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
    coco18_to_body25,
)
from pipeline.categories import DRESSES, LOWER_BODY, UPPER_BODY, check_category
from pipeline.annotate.body25 import NECK as NECK_KP  # NECK is the CIHP neck label here
from pipeline.config_mapping import check_keys
from pipeline.skip import SkipItem

# CIHP label ids (contract: 20 labels, 10 = neck / torso skin).
BACKGROUND, HAT, HAIR, GLOVE, SUNGLASSES, UPPER_CLOTHES, DRESS, COAT = 0, 1, 2, 3, 4, 5, 6, 7
SOCKS, PANTS, NECK, SCARF, SKIRT, FACE, LEFT_ARM, RIGHT_ARM = 8, 9, 10, 11, 12, 13, 14, 15
LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = 16, 17, 18, 19
NUM_LABELS = 20

# Labels VITON-HD pastes back from the person photo after greying.
HEAD_LABELS = (SUNGLASSES, FACE)
LOWER_LABELS = (PANTS, SKIRT, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE)
UPPER_LABELS = (UPPER_CLOTHES, DRESS, COAT)
SHOE_LABELS = (LEFT_SHOE, RIGHT_SHOE)
ARM_LABELS = (LEFT_ARM, RIGHT_ARM)
LEG_LABELS = (LEFT_LEG, RIGHT_LEG)
# The garments each category replaces (with a margin in the grey) ...
WORN_BY_CATEGORY = {
    UPPER_BODY: UPPER_LABELS + (NECK,),
    LOWER_BODY: (PANTS, SKIRT),
    DRESSES: UPPER_LABELS + (NECK, PANTS, SKIRT),
}
# ... and what the grey never covers: for a lower-body garment the top stays, with the arms.
KEPT_BY_CATEGORY = {
    UPPER_BODY: HEAD_LABELS + LOWER_LABELS,
    LOWER_BODY: HEAD_LABELS + (HAIR, UPPER_CLOTHES, COAT) + ARM_LABELS + SHOE_LABELS,
    DRESSES: HEAD_LABELS + SHOE_LABELS,
}

# Multiples of r, as published for the 1024x768 VITON-HD images.
_LIMB_HALF_WIDTH = 5  # arm segments r*10 wide, joint discs of radius r*5
_TORSO_SIDE_HALF_WIDTH = 3  # shoulder-to-hip lines r*6 wide
_HIP_LINE_HALF_WIDTH = 6  # hip-to-hip line r*12 wide
_HIP_ELLIPSE = (3, 6)  # ellipse half-axes at each hip
_NECK_HALF_SIDE = 7  # square over the neck keypoint
_SHOULDER_TO_R = 1 / 16  # HR-VITON: r = shoulder length / 16 + 1
_PARSE_ARM_HALF_WIDTH = 5  # parse agnostic: arm segments r*10 wide
_PARSE_JOINT_RADIUS = 15  # ... with discs of r*15 at shoulder and elbow
_PARSE_WRIST_RADIUS = 4  # ... and r*4 at the wrist, so the hand survives

_LEG_HALF_WIDTH = 7  # lower body: leg bands r*14 wide, knee and ankle discs of radius r*7
_WAIST_RISE = 0.25  # the waist band reaches this share of the hip-to-shoulder distance above the hips
_PARSE_LEG_HALF_WIDTH = 9  # parse agnostic: leg skin within r*9 of the leg bones is removed

# Typical (hip centre - shoulder centre) distance over shoulder width in VITON-HD
# photos, used only to place hips that the pose could not see (half-body shots).
_TORSO_LENGTH_PER_SHOULDER = 1.6


class AgnosticError(SkipItem):
    """The agnostic cannot be built for this person; ``reason`` is a metrics slug."""


@dataclass(frozen=True)
class AgnosticConfig:
    """How the agnostic is drawn. Radii follow HR-VITON; see the module docstring."""

    reference_height: int = 1024
    parse_arm_radius: float = 10.0
    keep_hands: bool = True
    keep_hair: bool = True
    cover_garment_margin: float = 0.5
    min_confidence: float = 0.05
    min_shoulder_fraction: float = 0.04
    grey: tuple[int, int, int] = (128, 128, 128)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "AgnosticConfig":
        """Build from a params block, rejecting unknown keys."""
        data = dict(data or {})
        check_keys(cls, data, "agnostic")
        if "grey" in data:
            data["grey"] = tuple(int(v) for v in data["grey"])
            if len(data["grey"]) != 3:
                raise ValueError("agnostic option 'grey' must be three 0..255 values")
        cfg = cls(**data)
        if cfg.reference_height <= 0 or cfg.parse_arm_radius <= 0:
            raise ValueError("agnostic reference_height and parse_arm_radius must be positive")
        return cfg


@dataclass
class AgnosticResult:
    """The agnostic image (HxWx3 uint8), its grey-area mask (HxW 0/255) and the parse agnostic."""

    image: np.ndarray
    mask: np.ndarray
    parse_agnostic: np.ndarray
    estimated_keypoints: tuple[str, ...] = ()


def make_agnostic(
    rgb: np.ndarray,
    parse: np.ndarray,
    body25: np.ndarray,
    config: AgnosticConfig = AgnosticConfig(),
    category: str = UPPER_BODY,
) -> AgnosticResult:
    """Grey out what a garment of ``category`` may replace in ``rgb``; see the module docstring.

    ``parse`` holds CIHP ids with the image's height and width; ``body25`` is a
    (25,3) array of pixel x, y and confidence (an (18,3) COCO array is also
    accepted). Raises :class:`AgnosticError` when the shoulders cannot be found.
    """
    rgb = np.asarray(rgb)
    parse = np.asarray(parse)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be HxWx3 uint8, got {rgb.shape} {rgb.dtype}")
    if parse.shape != rgb.shape[:2]:
        raise ValueError(f"parse {parse.shape} does not match image {rgb.shape[:2]}")
    kp = np.asarray(body25, dtype=np.float64)
    if kp.shape == (18, 3):
        kp = coco18_to_body25(kp)
    if kp.shape != (25, 3):
        raise ValueError(f"keypoints must be (25,3) BODY_25 or (18,3) COCO, got {kp.shape}")

    check_category(category)
    height, width = parse.shape
    pts, present, estimated = _complete_keypoints(kp, config, width)
    shoulder = float(np.linalg.norm(pts[L_SHOULDER] - pts[R_SHOULDER]))
    r = shoulder * _SHOULDER_TO_R + height / config.reference_height

    drawn = np.zeros((height, width), dtype=np.uint8)
    if category in (UPPER_BODY, DRESSES):
        drawn |= _pose_shapes(pts, present, r, (height, width))
    if category in (LOWER_BODY, DRESSES):
        drawn |= _leg_shapes(pts, present, r, (height, width))
    if config.cover_garment_margin > 0:
        # Garments wider than the pose shapes (loose coats, flared sleeves, wide skirts) would
        # otherwise show; the margin keeps their outline from being traced exactly.
        garment = _has_label(parse, WORN_BY_CATEGORY[category]).astype(np.uint8)
        k = max(1, int(round(r * config.cover_garment_margin))) * 2 + 1
        drawn |= cv2.dilate(garment, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))

    parse_agn, parse_arm_mask = _parse_agnostic(parse, pts, present, config, category)
    keep = _has_label(parse, KEPT_BY_CATEGORY[category])
    if config.keep_hands and category != LOWER_BODY:
        # Hands are the arm pixels the parse agnostic keeps: beyond the wrist disc.
        keep |= _has_label(parse, ARM_LABELS) & ~parse_arm_mask
    if config.keep_hair:
        # VITON-HD pastes back only the face, so long hair over the shoulders falls in the grey and
        # the generator redraws it as a smear. Hair is in front of any new top or dress and is
        # the person's, not the garment's: keep it, as the repaint keeps the face.
        keep |= _has_label(parse, (HAIR,))
    mask = (drawn.astype(bool) & ~keep)

    image = rgb.copy()
    image[mask] = np.asarray(config.grey, dtype=np.uint8)
    return AgnosticResult(
        image=image,
        mask=mask.astype(np.uint8) * 255,
        parse_agnostic=parse_agn,
        estimated_keypoints=tuple(estimated),
    )


def _complete_keypoints(
    kp: np.ndarray, config: AgnosticConfig, width: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return points, a presence flag per point, and the names of points that were estimated.

    Shoulders are required (one may be mirrored about the neck); hips missing on
    half-body shots are placed below the shoulders at the usual torso length.
    """
    pts = kp[:, :2].copy()
    present = (kp[:, 2] >= config.min_confidence) & ~((pts[:, 0] == 0) & (pts[:, 1] == 0))
    present &= np.isfinite(pts).all(axis=1)
    estimated: list[str] = []

    for a, b, name in ((R_SHOULDER, L_SHOULDER, "r_shoulder"), (L_SHOULDER, R_SHOULDER, "l_shoulder")):
        if not present[a] and present[b] and present[NECK_KP]:
            pts[a] = 2 * pts[NECK_KP] - pts[b]
            present[a] = True
            estimated.append(name)
    if not (present[R_SHOULDER] and present[L_SHOULDER]):
        raise AgnosticError("no_shoulders", "both shoulders (or one shoulder and the neck) are needed")
    shoulder = float(np.linalg.norm(pts[L_SHOULDER] - pts[R_SHOULDER]))
    if shoulder < config.min_shoulder_fraction * width:
        raise AgnosticError(
            "shoulders_too_close", f"shoulder width {shoulder:.1f}px < {config.min_shoulder_fraction} of the image width"
        )
    if not present[NECK_KP]:
        pts[NECK_KP] = (pts[R_SHOULDER] + pts[L_SHOULDER]) / 2
        present[NECK_KP] = True
        estimated.append("neck")

    for a, b, name in ((R_HIP, L_HIP, "r_hip"), (L_HIP, R_HIP, "l_hip")):
        if not present[a] and present[b] and present[MID_HIP]:
            pts[a] = 2 * pts[MID_HIP] - pts[b]
            present[a] = True
            estimated.append(name)
    if not (present[R_HIP] and present[L_HIP]):
        centre = (pts[R_SHOULDER] + pts[L_SHOULDER]) / 2
        across = pts[L_SHOULDER] - pts[R_SHOULDER]
        down = np.array([-across[1], across[0]]) / max(shoulder, 1e-6)
        if down[1] < 0:  # image y grows downwards
            down = -down
        hip_centre = centre + down * shoulder * _TORSO_LENGTH_PER_SHOULDER
        pts[R_HIP] = hip_centre - across / 2
        pts[L_HIP] = hip_centre + across / 2
        present[R_HIP] = present[L_HIP] = True
        estimated.append("hips")
    return pts, present, estimated


def _pose_shapes(pts: np.ndarray, present: np.ndarray, r: float, size: tuple[int, int]) -> np.ndarray:
    """Draw VITON-HD's arm, torso and neck shapes (1 inside) on an HxW uint8 canvas."""
    canvas = np.zeros(size, dtype=np.uint8)
    pts = pts.copy()
    # Hips are spread to the shoulder width so the torso shape covers the garment's sides.
    hip_len = float(np.linalg.norm(pts[L_HIP] - pts[R_HIP]))
    shoulder = float(np.linalg.norm(pts[L_SHOULDER] - pts[R_SHOULDER]))
    centre = (pts[R_HIP] + pts[L_HIP]) / 2
    if hip_len > 1e-6:
        pts[R_HIP] = centre + (pts[R_HIP] - centre) / hip_len * shoulder
        pts[L_HIP] = centre + (pts[L_HIP] - centre) / hip_len * shoulder
    else:
        half = (pts[L_SHOULDER] - pts[R_SHOULDER]) / 2
        pts[R_HIP], pts[L_HIP] = centre - half, centre + half

    _segment(canvas, pts[R_SHOULDER], pts[L_SHOULDER], r * _LIMB_HALF_WIDTH)
    for i in (R_SHOULDER, L_SHOULDER):
        _disc(canvas, pts[i], r * _LIMB_HALF_WIDTH, r * _LIMB_HALF_WIDTH)
    for i in (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST):
        if present[i - 1] and present[i]:
            _segment(canvas, pts[i - 1], pts[i], r * _LIMB_HALF_WIDTH)
            _disc(canvas, pts[i], r * _LIMB_HALF_WIDTH, r * _LIMB_HALF_WIDTH)

    for i in (R_HIP, L_HIP):
        _disc(canvas, pts[i], r * _HIP_ELLIPSE[0], r * _HIP_ELLIPSE[1])
    _segment(canvas, pts[R_SHOULDER], pts[R_HIP], r * _TORSO_SIDE_HALF_WIDTH)
    _segment(canvas, pts[L_SHOULDER], pts[L_HIP], r * _TORSO_SIDE_HALF_WIDTH)
    _segment(canvas, pts[R_HIP], pts[L_HIP], r * _HIP_LINE_HALF_WIDTH)
    quad = np.round(pts[[R_SHOULDER, L_SHOULDER, L_HIP, R_HIP]]).astype(np.int32)
    cv2.fillPoly(canvas, [quad], 1)

    nx, ny = pts[NECK_KP]
    half = r * _NECK_HALF_SIDE
    cv2.rectangle(canvas, (int(round(nx - half)), int(round(ny - half))), (int(round(nx + half)), int(round(ny + half))), 1, -1)
    return canvas


def _leg_shapes(pts: np.ndarray, present: np.ndarray, r: float, size: tuple[int, int]) -> np.ndarray:
    """The lower-body grey (1 inside): waist band, crotch, leg bands and discs down to the ankles.

    Legs the pose did not see (a photo cut at the thighs) get no band; the worn garment's own
    labels, dilated by the caller, then bound the grey.
    """
    canvas = np.zeros(size, dtype=np.uint8)
    hip_mid = (pts[R_HIP] + pts[L_HIP]) / 2
    rise = ((pts[R_SHOULDER] + pts[L_SHOULDER]) / 2 - hip_mid) * _WAIST_RISE
    half = r * _LEG_HALF_WIDTH
    # Waist band from the hips up: trousers sit above the hip joints the pose marks.
    band = np.array([pts[R_HIP] + rise, pts[L_HIP] + rise, pts[L_HIP], pts[R_HIP]])
    cv2.fillPoly(canvas, [np.round(band).astype(np.int32)], 1)
    _segment(canvas, pts[R_HIP], pts[L_HIP], r * _HIP_LINE_HALF_WIDTH)
    for hip in (R_HIP, L_HIP):
        _disc(canvas, pts[hip], half, half)
    if present[R_KNEE] and present[L_KNEE]:
        crotch = np.round(pts[[R_HIP, L_HIP, L_KNEE, R_KNEE]]).astype(np.int32)
        cv2.fillPoly(canvas, [crotch], 1)
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        prev = hip
        for joint in (knee, ankle):
            if not present[joint]:
                break
            _segment(canvas, pts[prev], pts[joint], half)
            _disc(canvas, pts[joint], half, half)
            prev = joint
    return canvas


def _parse_agnostic(
    parse: np.ndarray, pts: np.ndarray, present: np.ndarray, config: AgnosticConfig, category: str = UPPER_BODY,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the labels a garment of ``category`` may replace; return the map and the arm-removal mask.

    Upper body (and dresses): upper garment, neck and arm labels near the pose. Lower body (and
    dresses): pants, skirt, and leg skin near the leg bones (the new garment may be longer).
    """
    height = parse.shape[0]
    r = config.parse_arm_radius * height / config.reference_height
    out = parse.copy()
    arm = np.zeros(parse.shape, dtype=np.uint8)
    if category in (LOWER_BODY, DRESSES):
        legs = np.zeros(parse.shape, dtype=np.uint8)
        for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
            prev = hip
            for joint in (knee, ankle):
                if not (present[prev] and present[joint]):
                    break
                _segment(legs, pts[prev], pts[joint], r * _PARSE_LEG_HALF_WIDTH)
                _disc(legs, pts[joint], r * _PARSE_LEG_HALF_WIDTH, r * _PARSE_LEG_HALF_WIDTH)
                prev = joint
        out[legs.astype(bool) & _has_label(parse, LEG_LABELS)] = BACKGROUND
        out[_has_label(parse, (PANTS, SKIRT))] = BACKGROUND
        if category == LOWER_BODY:
            return out, arm.astype(bool)
    # Each chain runs from the opposite shoulder along one arm, as HR-VITON draws it.
    # Both arm labels are cleared inside both chains: on back views and with
    # crossed arms the parser's left/right can disagree with the pose's.
    for chain in ((R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST), (L_SHOULDER, R_SHOULDER, R_ELBOW, R_WRIST)):
        prev = chain[0]
        for i in chain[1:]:
            if not (present[prev] and present[i]):
                continue
            _segment(arm, pts[prev], pts[i], r * _PARSE_ARM_HALF_WIDTH)
            radius = r * (_PARSE_WRIST_RADIUS if i == chain[-1] else _PARSE_JOINT_RADIUS)
            _disc(arm, pts[i], radius, radius)
            prev = i
    removed_arms = arm.astype(bool)
    if config.keep_hands:
        # The wrist disc reaches a few centimetres into the hand; the hand is everything past the
        # wrist along the forearm, so that part is kept (in the image as in this map).
        for elbow, wrist in ((L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST)):
            if present[elbow] and present[wrist]:
                removed_arms &= ~_past_wrist(parse.shape, pts[elbow], pts[wrist])
    out[removed_arms & _has_label(parse, (LEFT_ARM, RIGHT_ARM))] = BACKGROUND
    out[_has_label(parse, UPPER_LABELS + (NECK,))] = BACKGROUND
    return out, removed_arms


def _past_wrist(shape: tuple[int, int], elbow: np.ndarray, wrist: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """``HxW`` bool: beyond the wrist along the elbow-to-wrist direction, within ``reach`` forearms of it."""
    d = wrist - elbow
    length2 = float(d @ d)
    if length2 < 1.0:
        return np.zeros(shape, dtype=bool)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    t = ((xs - elbow[0]) * d[0] + (ys - elbow[1]) * d[1]) / length2
    near = (xs - wrist[0]) ** 2 + (ys - wrist[1]) ** 2 < reach**2 * length2
    return (t > 1.0) & near


def _has_label(parse: np.ndarray, labels: tuple[int, ...]) -> np.ndarray:
    """``np.isin(parse, labels)`` for uint8 label maps, as one table lookup (isin sorts every pixel)."""
    if parse.dtype != np.uint8:
        return np.isin(parse, labels)
    table = np.zeros(256, dtype=bool)
    table[list(labels)] = True
    return table[parse]


def _segment(canvas: np.ndarray, p0: np.ndarray, p1: np.ndarray, half_width: float) -> None:
    """Fill a flat-ended band of the given half width from p0 to p1."""
    d = np.asarray(p1, dtype=np.float64) - np.asarray(p0, dtype=np.float64)
    length = float(np.hypot(*d))
    if length < 1e-6 or half_width <= 0:
        return
    n = np.array([-d[1], d[0]]) / length * half_width
    poly = np.array([p0 + n, p1 + n, p1 - n, p0 - n])
    cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 1)


def _disc(canvas: np.ndarray, centre: np.ndarray, ax: float, ay: float) -> None:
    """Fill an axis-aligned ellipse with half-axes ``ax``, ``ay``."""
    cx, cy = (int(round(v)) for v in centre)
    cv2.ellipse(canvas, (cx, cy), (max(1, int(round(ax))), max(1, int(round(ay)))), 0, 0, 360, 1, -1)
