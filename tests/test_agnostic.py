"""Agnostic person representation and garment masks: synthetic people and garments, plus the real VITON-HD rule check."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.annotate.agnostic import (
    FACE,
    LEFT_ARM,
    NECK,
    PANTS,
    RIGHT_ARM,
    UPPER_CLOTHES,
    AgnosticConfig,
    AgnosticError,
    make_agnostic,
)
from pipeline.annotate.cloth_mask import ClothMaskConfig, ClothMaskError, cloth_mask

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GREY = np.array([128, 128, 128], dtype=np.uint8)

# Synthetic person in relative coordinates: (label, colour, x0, y0, x1, y1); later shapes win.
_SHAPES = [
    (2, (50, 30, 20), 0.42, 0.05, 0.58, 0.09),  # hair
    (13, (225, 175, 140), 0.43, 0.08, 0.57, 0.21),  # face
    (10, (215, 165, 130), 0.46, 0.21, 0.54, 0.25),  # neck
    (15, (220, 170, 135), 0.24, 0.26, 0.31, 0.60),  # right arm incl. hand (image left)
    (14, (220, 170, 135), 0.69, 0.26, 0.76, 0.60),  # left arm incl. hand
    (5, (200, 30, 40), 0.32, 0.25, 0.68, 0.55),  # upper clothes
    (9, (30, 40, 150), 0.34, 0.55, 0.66, 0.80),  # pants
    (17, (220, 170, 135), 0.36, 0.80, 0.48, 0.93),  # right leg
    (16, (220, 170, 135), 0.52, 0.80, 0.64, 0.93),  # left leg
    (19, (20, 20, 20), 0.36, 0.93, 0.48, 0.97),  # right shoe
    (18, (20, 20, 20), 0.52, 0.93, 0.64, 0.97),  # left shoe
]
_KEYPOINTS = {  # BODY_25 index: relative (x, y)
    0: (0.50, 0.15), 1: (0.50, 0.25), 2: (0.30, 0.27), 3: (0.275, 0.39), 4: (0.275, 0.50),
    5: (0.70, 0.27), 6: (0.725, 0.39), 7: (0.725, 0.50), 8: (0.50, 0.55), 9: (0.40, 0.55),
    10: (0.42, 0.72), 11: (0.42, 0.90), 12: (0.60, 0.55), 13: (0.58, 0.72), 14: (0.58, 0.90),
}
HAND_TOP = 0.56  # relative y below which the arm rectangles are hands (wrist at 0.50)


def synthetic_person(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB, CIHP parse and BODY_25 keypoints of a blocky person at any size."""
    rgb = Image.new("RGB", (width, height), (235, 235, 235))
    parse = Image.new("L", (width, height), 0)
    for label, colour, x0, y0, x1, y1 in _SHAPES:
        box = (round(x0 * width), round(y0 * height), round(x1 * width) - 1, round(y1 * height) - 1)
        ImageDraw.Draw(rgb).rectangle(box, fill=colour)
        ImageDraw.Draw(parse).rectangle(box, fill=label)
    kp = np.zeros((25, 3))
    for i, (x, y) in _KEYPOINTS.items():
        kp[i] = (x * width, y * height, 0.9)
    return np.asarray(rgb).copy(), np.asarray(parse).copy(), kp


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def person() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return synthetic_person(384, 512)


@pytest.mark.parametrize("margin", [0.0, 1.0])
def test_upper_clothes_arms_and_neck_are_greyed(person, margin: float) -> None:
    rgb, parse, kp = person
    res = make_agnostic(rgb, parse, kp, AgnosticConfig(cover_garment_margin=margin))
    height = parse.shape[0]
    rows = np.arange(height)[:, None] < HAND_TOP * height
    for label in (UPPER_CLOTHES, NECK):
        region = parse == label
        assert (res.image[region] == GREY).all(), f"label {label} not fully grey"
        assert (res.mask[region] == 255).all()
    upper_arms = np.isin(parse, (LEFT_ARM, RIGHT_ARM)) & rows & (np.arange(height)[:, None] < 0.49 * height)
    assert upper_arms.any() and (res.image[upper_arms] == GREY).all()
    assert set(np.unique(res.mask)) <= {0, 255}


def test_hands_face_and_legs_stay_intact(person) -> None:
    rgb, parse, kp = person
    res = make_agnostic(rgb, parse, kp)
    height = parse.shape[0]
    hands = np.isin(parse, (LEFT_ARM, RIGHT_ARM)) & (np.arange(height)[:, None] >= HAND_TOP * height)
    assert hands.sum() > 100
    lower = np.isin(parse, (PANTS, 16, 17, 18, 19))
    for name, region in (("hands", hands), ("face", parse == FACE), ("lower body", lower)):
        assert (res.image[region] == rgb[region]).all(), f"{name} changed"
        assert not res.mask[region].any(), f"{name} in the mask"
    # Background beside the torso is greyed too: the garment outline must not show.
    assert res.mask[int(0.4 * height), int(0.305 * parse.shape[1])] == 255


def test_hands_greyed_when_not_kept(person) -> None:
    rgb, parse, kp = person
    res = make_agnostic(rgb, parse, kp, AgnosticConfig(keep_hands=False))
    y = int(0.53 * parse.shape[0])
    x = int(0.275 * parse.shape[1])
    assert parse[y, x] == RIGHT_ARM and (res.image[y, x] == GREY).all()


@pytest.mark.parametrize("category", ["upper_body", "dresses"])
def test_long_hair_over_the_shoulder_is_kept(category: str) -> None:
    rgb, parse, kp = synthetic_person(384, 512)
    height, width = parse.shape
    # A lock of hair from the head down over the right shoulder and the top.
    y0, y1, x0, x1 = int(0.08 * height), int(0.40 * height), int(0.36 * width), int(0.42 * width)
    rgb[y0:y1, x0:x1] = (50, 30, 20)
    parse[y0:y1, x0:x1] = 2
    hair = parse == 2
    kept = make_agnostic(rgb, parse, kp, category=category)
    assert (kept.image[hair] == rgb[hair]).all() and not kept.mask[hair].any()
    assert (kept.parse_agnostic[hair] == 2).all()
    greyed = make_agnostic(rgb, parse, kp, AgnosticConfig(keep_hair=False), category=category)
    over_top = hair & (np.arange(height)[:, None] > 0.27 * height)
    assert over_top.sum() > 100 and (greyed.mask[over_top] > 0).all(), "VITON-HD's rule greys hair over the top"
    # Keeping the hair changes nothing else.
    assert ((kept.mask > 0) == ((greyed.mask > 0) & ~hair)).all()


def test_parse_agnostic_removes_upper_labels_keeps_the_rest(person) -> None:
    rgb, parse, kp = person
    pa = make_agnostic(rgb, parse, kp).parse_agnostic
    height = parse.shape[0]
    assert not np.isin(pa, (UPPER_CLOTHES, NECK)).any()
    arms_left = np.isin(pa, (LEFT_ARM, RIGHT_ARM))
    assert arms_left.any(), "hands must stay in the parse agnostic"
    # The hands start at the wrist (0.50): nothing above it keeps an arm label.
    assert np.nonzero(arms_left)[0].min() >= 0.5 * height, "only the hands may keep arm labels"
    wrist_row = int(0.5 * height) + 2
    assert arms_left[wrist_row].sum() >= 2 * 0.06 * parse.shape[1], "the hand keeps its full width at the wrist"
    for label in (2, FACE, PANTS, 16, 17, 18, 19):
        assert ((pa == label) == (parse == label)).all(), f"label {label} changed"


# Per category: the labels the grey must cover, and those it must leave exactly as they are.
_CATEGORY_RULES = {
    "upper_body": ((UPPER_CLOTHES, NECK), (FACE, 2, PANTS, 16, 17, 18, 19)),
    "lower_body": ((PANTS, 16, 17), (FACE, 2, UPPER_CLOTHES, LEFT_ARM, RIGHT_ARM, 18, 19)),
    "dresses": ((UPPER_CLOTHES, NECK, PANTS, 16, 17), (FACE, 2, 18, 19)),
}


@pytest.mark.parametrize("category", sorted(_CATEGORY_RULES))
def test_each_category_greys_its_garment_and_keeps_the_rest(person, category: str) -> None:
    rgb, parse, kp = person
    res = make_agnostic(rgb, parse, kp, category=category)
    covered, kept = _CATEGORY_RULES[category]
    for label in covered:
        region = parse == label
        assert region.any() and (res.mask[region] == 255).all(), f"{category}: label {label} not covered"
    height = parse.shape[0]
    hands = np.isin(parse, (LEFT_ARM, RIGHT_ARM)) & (np.arange(height)[:, None] >= HAND_TOP * height)
    for label in kept:
        region = parse == label
        if category != "lower_body" and label in (LEFT_ARM, RIGHT_ARM):
            region &= hands
        assert not res.mask[region].any() and (res.image[region] == rgb[region]).all(), f"{category}: label {label} touched"
    assert not res.mask[hands].any(), f"{category}: hands touched"
    # The parse agnostic drops exactly what the new garment may replace.
    pa = res.parse_agnostic
    assert not np.isin(pa, tuple(label for label in covered if label not in (16, 17))).any()
    for label in kept:
        if label not in (LEFT_ARM, RIGHT_ARM):
            assert ((pa == label) == (parse == label)).all(), f"{category}: parse label {label} changed"


def test_lower_body_grey_reaches_above_the_hips_but_not_the_chest(person) -> None:
    rgb, parse, kp = person
    mask = make_agnostic(rgb, parse, kp, category="lower_body").mask > 0
    height, width = parse.shape
    cols = mask[:, int(0.5 * width)]
    rows = np.nonzero(cols)[0]
    # Hips at 0.55, shoulders at 0.27: the waist band rises a quarter of the way (to ~0.48),
    # but the shirt itself is kept, so on the body's centre line the grey starts where the shirt ends.
    assert rows.min() >= int(0.55 * height) - 1 and rows.max() >= int(0.90 * height)


def test_unknown_category_is_refused(person) -> None:
    rgb, parse, kp = person
    with pytest.raises(ValueError, match="unknown garment category"):
        make_agnostic(rgb, parse, kp, category="shoes")


def test_radii_scale_with_resolution() -> None:
    small = make_agnostic(*synthetic_person(384, 512))
    large = make_agnostic(*synthetic_person(768, 1024))
    down = cv2.resize(large.mask, (384, 512), interpolation=cv2.INTER_AREA) > 127
    assert _iou(down, small.mask > 127) > 0.97
    parse_down = cv2.resize(large.parse_agnostic, (384, 512), interpolation=cv2.INTER_NEAREST)
    assert (parse_down == small.parse_agnostic).mean() > 0.99


def test_missing_shoulders_is_a_clear_error(person) -> None:
    rgb, parse, kp = person
    kp = kp.copy()
    kp[[2, 5], 2] = 0
    with pytest.raises(AgnosticError) as err:
        make_agnostic(rgb, parse, kp)
    assert err.value.reason == "no_shoulders"


def test_half_body_shot_estimates_hips(person) -> None:
    rgb, parse, kp = person
    kp = kp.copy()
    kp[8:15] = 0
    res = make_agnostic(rgb, parse, kp)
    assert "hips" in res.estimated_keypoints
    assert (res.image[parse == UPPER_CLOTHES] == GREY).all()


def test_coco18_keypoints_are_accepted(person) -> None:
    rgb, parse, kp = person
    coco = kp[[0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]]
    a = make_agnostic(rgb, parse, coco).mask
    b = make_agnostic(rgb, parse, kp).mask
    assert _iou(a > 0, b > 0) > 0.99


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown agnostic param"):
        AgnosticConfig.from_dict({"keep_hand": True})
    assert AgnosticConfig.from_dict({"keep_hands": False, "grey": [1, 2, 3]}).grey == (1, 2, 3)
    with pytest.raises(ValueError, match="unknown cloth-mask param"):
        ClothMaskConfig.from_dict({"threshold": 3})


@pytest.mark.skipif(not (SHARED / "vitonhd_train16").is_dir(), reason="shared VITON-HD samples absent")
def test_rule_matches_vitonhd_agnostic_masks() -> None:
    """From the data set's own parse and pose, the mask must match its ``agnostic-mask``."""
    root = SHARED / "vitonhd_train16"
    ious = []
    for path in sorted((root / "image").glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        parse = np.asarray(Image.open(root / "image-parse-v3" / f"{path.stem}.png"))
        doc = json.loads((root / "openpose_json" / f"{path.stem}_keypoints.json").read_text())
        kp = np.asarray(doc["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
        gt = np.asarray(Image.open(root / "agnostic-mask" / f"{path.stem}_mask.png").convert("L")) > 127
        ious.append(_iou(make_agnostic(rgb, parse, kp).mask > 0, gt))
    assert len(ious) >= 10
    assert np.mean(ious) >= 0.85, ious
    assert min(ious) >= 0.8, ious


# --- garment masks -------------------------------------------------------------------------------


def _jpeg_roundtrip(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _tshirt(width: int = 384, height: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """A T-shirt with a white print on a white background, and its true mask."""
    shape = Image.new("L", (width, height), 0)
    d = ImageDraw.Draw(shape)
    w, h = width, height
    d.polygon([(0.3 * w, 0.15 * h), (0.7 * w, 0.15 * h), (0.92 * w, 0.32 * h), (0.82 * w, 0.42 * h),
               (0.72 * w, 0.35 * h), (0.72 * w, 0.85 * h), (0.28 * w, 0.85 * h), (0.28 * w, 0.35 * h),
               (0.18 * w, 0.42 * h), (0.08 * w, 0.32 * h)], fill=255)
    d.ellipse((0.42 * w, 0.1 * h, 0.58 * w, 0.2 * h), fill=0)  # neckline
    truth = np.asarray(shape) > 0
    rgb = np.full((h, w, 3), 255, np.uint8)
    rgb[truth] = (60, 90, 160)
    rgb[int(0.4 * h):int(0.55 * h), int(0.4 * w):int(0.6 * w)] = 255  # white print: a hole to fill
    return _jpeg_roundtrip(rgb), truth


def test_cloth_mask_finds_one_garment() -> None:
    rgb, truth = _tshirt()
    mask = cloth_mask(rgb)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert cv2.connectedComponents((mask > 0).astype(np.uint8))[0] == 2  # background + one garment
    assert _iou(mask > 0, truth) > 0.95


def test_cloth_mask_refuses_two_objects() -> None:
    rgb = np.full((512, 384, 3), 250, np.uint8)
    rgb[60:250, 40:180] = (200, 40, 40)
    rgb[280:470, 200:340] = (40, 40, 200)
    with pytest.raises(ClothMaskError) as err:
        cloth_mask(_jpeg_roundtrip(rgb))
    assert err.value.reason == "several_objects"


def _vignetted_backdrop(width: int = 384, height: int = 512) -> np.ndarray:
    """A near-white studio sweep: bright centre, darker corners, a slight left-right gradient."""
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    light = 1.0 - 0.07 * (xx**2 + yy**2) - 0.02 * xx
    return np.asarray((246, 243, 250), np.float32) * light[..., None]


def test_cloth_mask_finds_light_garment_on_vignetted_backdrop() -> None:
    _, truth = _tshirt()
    rgb = _vignetted_backdrop()
    # An off-white shirt, about as light as the backdrop's centre and lighter than its corners.
    ys = np.linspace(0.0, 1.0, truth.shape[0], dtype=np.float32)[:, None, None]
    shirt = np.asarray((242, 240, 228), np.float32) * (1.0 - 0.04 * ys)
    rgb = np.where(truth[..., None], shirt, rgb)
    cv2.circle(rgb, (150, 190), 14, (70, 130, 220), -1)  # small chest logo
    rgb = _jpeg_roundtrip(np.clip(rgb + 0.5, 0, 255).astype(np.uint8))
    mask = cloth_mask(rgb)
    assert cv2.connectedComponents((mask > 0).astype(np.uint8))[0] == 2
    assert _iou(mask > 0, truth) > 0.9


def test_cloth_mask_refuses_two_objects_on_vignetted_backdrop() -> None:
    rgb = _vignetted_backdrop()
    rgb[60:250, 40:180] = (240, 238, 226)
    rgb[280:470, 200:340] = (200, 40, 40)
    with pytest.raises(ClothMaskError) as err:
        cloth_mask(_jpeg_roundtrip(np.clip(rgb + 0.5, 0, 255).astype(np.uint8)))
    assert err.value.reason == "several_objects"


def test_cloth_mask_background_degree_is_bounded() -> None:
    with pytest.raises(ValueError, match="background_degree"):
        ClothMaskConfig.from_dict({"background_degree": 4})


def test_cloth_mask_refuses_empty_and_busy_pictures() -> None:
    with pytest.raises(ClothMaskError) as err:
        cloth_mask(np.full((256, 192, 3), 240, np.uint8))
    assert err.value.reason == "empty_mask"
    noise = np.random.default_rng(0).integers(0, 256, (256, 192, 3), dtype=np.uint8)
    with pytest.raises(ClothMaskError) as err:
        cloth_mask(noise)
    assert err.value.reason == "no_plain_background"


@pytest.mark.skipif(not (SHARED / "vitonhd_train16").is_dir(), reason="shared VITON-HD samples absent")
def test_cloth_mask_matches_vitonhd_masks() -> None:
    root = SHARED / "vitonhd_train16"
    ious = []
    for path in sorted((root / "cloth").glob("*.jpg")):
        gt = np.asarray(Image.open(root / "cloth-mask" / path.name).convert("L")) > 127
        ious.append(_iou(cloth_mask(np.asarray(Image.open(path).convert("RGB"))) > 0, gt))
    assert np.mean(ious) > 0.95, ious
