"""Hip refinement from a parse map: hips move toward the top's hem by the configured fraction, or stay."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.annotate.hip_refine import refine_hips_with_parse
from pipeline.annotate.pose import PoseConfig

H, W = 400, 300
NECK_Y, HIP_Y = 100.0, 300.0  # torso length 200 px
R_HIP_X, L_HIP_X = 120.0, 180.0


def _body() -> np.ndarray:
    body = np.zeros((25, 3))
    body[1] = (150, NECK_Y, 0.9)
    body[9] = (R_HIP_X, HIP_Y, 0.9)
    body[12] = (L_HIP_X, HIP_Y, 0.9)
    body[8] = (150, HIP_Y, 0.9)
    return body


def _parse_with_hem(hem_row: int, label: int = 5) -> np.ndarray:
    """Upper garment from the neck down to ``hem_row`` (inclusive), trousers below it."""
    parse = np.zeros((H, W), np.uint8)
    parse[int(NECK_Y) : hem_row + 1, 60:240] = label
    parse[hem_row + 1 : H - 20, 60:240] = 9
    return parse


CFG = PoseConfig(hem_pull_down=0.7, hem_pull_up=0.3, hem_max_distance=0.25)


@pytest.mark.parametrize(("hem", "pull"), [(330, 0.7), (270, 0.3)])
def test_hips_move_toward_the_hem_by_the_pull(hem: int, pull: float) -> None:
    out = refine_hips_with_parse(_body(), _parse_with_hem(hem), CFG)
    expected = HIP_Y + pull * (hem - HIP_Y)
    assert out[9, 1] == pytest.approx(expected) and out[12, 1] == pytest.approx(expected)
    assert out[9, 0] == R_HIP_X and out[12, 0] == L_HIP_X  # horizontal positions untouched
    assert out[8, 1] == pytest.approx(expected) and out[8, 0] == pytest.approx(150)


def test_coat_counts_as_upper_garment() -> None:
    out = refine_hips_with_parse(_body(), _parse_with_hem(330, label=7), CFG)
    assert out[9, 1] == pytest.approx(HIP_Y + 0.7 * 30)


@pytest.mark.parametrize(
    "parse",
    [
        _parse_with_hem(360),  # hem 0.3 torso lengths below: a tunic, not a hip cue
        _parse_with_hem(200),  # hem 0.5 above: a crop top
        _parse_with_hem(330, label=6),  # a dress has no hem near the hip
        np.zeros((H, W), np.uint8),  # no garment at all
    ],
)
def test_no_hem_nearby_leaves_the_pose_unchanged(parse: np.ndarray) -> None:
    body = _body()
    np.testing.assert_array_equal(refine_hips_with_parse(body, parse, CFG), body)


def test_garment_cut_by_the_frame_is_not_a_hem() -> None:
    parse = np.zeros((320, W), np.uint8)
    parse[int(NECK_Y) :, 60:240] = 5  # runs off the bottom edge just below the hips
    body = _body()
    np.testing.assert_array_equal(refine_hips_with_parse(body, parse, CFG), body)


def test_disabled_and_missing_hip_leave_pose_unchanged() -> None:
    body = _body()
    off = PoseConfig(hem_pull_down=0.0, hem_pull_up=0.0)
    np.testing.assert_array_equal(refine_hips_with_parse(body, _parse_with_hem(330), off), body)
    body[12] = 0
    np.testing.assert_array_equal(refine_hips_with_parse(body, _parse_with_hem(330), CFG), body)


def test_full_body_photos_keep_their_hips_unless_asked() -> None:
    body = _body()
    body[11] = (120, 390, 0.8)  # both ankles found: full-body framing, not the thigh-cut one the pull was fitted on
    body[14] = (180, 390, 0.8)
    np.testing.assert_array_equal(refine_hips_with_parse(body, _parse_with_hem(330), CFG), body)
    on = PoseConfig(hem_pull_down=0.7, hem_pull_up=0.3, hem_max_distance=0.25, hem_pull_full_body=True)
    assert refine_hips_with_parse(body, _parse_with_hem(330), on)[9, 1] == pytest.approx(HIP_Y + 0.7 * 30)
    body[14] = 0  # one ankle is not a full body
    assert refine_hips_with_parse(body, _parse_with_hem(330), CFG)[9, 1] == pytest.approx(HIP_Y + 0.7 * 30)


def test_input_not_modified_and_bad_shapes_rejected() -> None:
    body = _body()
    refine_hips_with_parse(body, _parse_with_hem(330), CFG)
    assert body[9, 1] == HIP_Y
    with pytest.raises(ValueError, match="BODY_25"):
        refine_hips_with_parse(np.zeros((18, 3)), _parse_with_hem(330), CFG)
    with pytest.raises(ValueError, match="label map"):
        refine_hips_with_parse(body, np.zeros((H, W, 3), np.uint8), CFG)


def test_config_rejects_out_of_range_pull() -> None:
    with pytest.raises(ValueError, match="hem_pull_down"):
        PoseConfig.from_dict({"hem_pull_down": 1.5})
    with pytest.raises(ValueError, match="hem_max_distance"):
        PoseConfig.from_dict({"hem_max_distance": -0.1})
