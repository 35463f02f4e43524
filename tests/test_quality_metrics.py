"""PCK, IoU and mask IoU on hand-made arrays with known answers; label-map loading; the benchmark on a tiny folder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.quality.labels import align_to_reference, group_ids, load_binary_mask, load_label_map, rgb_to_labels
from pipeline.quality.metrics import iou_counts, mask_iou, miou, pck, torso_size

REPO = Path(__file__).resolve().parents[1]


def _coco_pose(scale: float = 1.0) -> np.ndarray:
    kp = np.zeros((18, 3))
    kp[:, 2] = 1.0
    kp[:, :2] = np.arange(36).reshape(18, 2)
    kp[1, :2] = (50, 0)  # neck
    kp[8, :2] = (40, 100)  # right hip
    kp[11, :2] = (60, 100)  # left hip: torso = 100
    kp[2, :2] = (30, 0)
    kp[5, :2] = (70, 0)
    kp[:, :2] *= scale
    return kp


def test_torso_size_both_models_and_fallback() -> None:
    assert torso_size(_coco_pose()) == pytest.approx(100.0)
    body = np.zeros((25, 3))
    body[[1, 9, 12], 2] = 1
    body[1, :2], body[9, :2], body[12, :2] = (0, 0), (-10, 30), (10, 30)
    assert torso_size(body) == pytest.approx(30.0)
    no_hips = _coco_pose()
    no_hips[[8, 11]] = 0
    assert torso_size(no_hips) == pytest.approx(80.0)  # 2 × shoulder width 40
    assert torso_size(np.zeros((18, 3))) is None
    with pytest.raises(ValueError):
        torso_size(np.zeros((17, 3)))


def test_pck_known_answer() -> None:
    gt = _coco_pose()
    pred = gt.copy()
    pred[3, :2] += (9.0, 0.0)  # 9 px < 0.1 × 100: hit
    pred[4, :2] += (0.0, 11.0)  # 11 px: miss
    pred[6] = 0  # not predicted: miss
    gt[7, 2] = 0  # not in the reference: not scored, whatever we predict
    pred[7, :2] += 500
    counts = pck(pred, gt)
    assert counts.totals.sum() == 17
    assert counts.hits.sum() == 15
    assert counts.overall == pytest.approx(15 / 17)
    assert counts.hits[3] == 1 and counts.hits[4] == 0 and counts.hits[6] == 0 and counts.totals[7] == 0
    assert pck(pred, gt, threshold=0.2).hits.sum() == 16


def test_pck_missed_image_and_summing() -> None:
    gt = _coco_pose()
    missed = pck(None, gt)
    assert missed.hits.sum() == 0 and missed.totals.sum() == 18 and missed.missed_images == 1
    total = pck(gt, gt) + missed
    assert total.overall == pytest.approx(0.5)
    assert total.images == 2 and total.missed_images == 1
    per = total.per_joint()
    assert per.shape == (18,) and np.allclose(per, 0.5)
    with pytest.raises(ValueError):
        pck(np.zeros((25, 3)), gt)
    with pytest.raises(ValueError):
        pck(None, np.zeros((18, 3)))


def test_align_to_reference_drops_midhip_and_feet() -> None:
    body = np.arange(75, dtype=float).reshape(25, 3)
    coco = align_to_reference(body, 18)
    assert coco.shape == (18, 3)
    assert coco[8].tolist() == body[9].tolist()  # COCO RHip is BODY_25 RHip, not MidHip
    assert align_to_reference(body, 25) is body or np.array_equal(align_to_reference(body, 25), body)


def test_miou_known_answer() -> None:
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    pred = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [2, 2, 3, 3]])
    ious, mean = miou(pred, gt, [0, 1, 2, 5])
    assert ious[0] == pytest.approx(4 / 5)
    assert ious[1] == pytest.approx(3 / 4)
    assert ious[2] == pytest.approx(2 / 4)
    assert math.isnan(ious[3])  # class 5 in neither map
    assert mean == pytest.approx((0.8 + 0.75 + 0.5) / 3)
    inter, union = iou_counts(pred, gt, [(1, 2)])  # a group of ids
    assert inter[0] == 5 and union[0] == 8


def test_mask_iou_known_answer() -> None:
    a = np.zeros((10, 10), np.uint8)
    b = np.zeros((10, 10), np.uint8)
    a[:5] = 255
    b[:, :5] = 255
    assert mask_iou(a, b) == pytest.approx(25 / 75)
    assert mask_iou(a, a) == 1.0
    assert mask_iou(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0
    assert mask_iou(a > 0, b > 0) == pytest.approx(25 / 75)
    with pytest.raises(ValueError):
        mask_iou(a, b[:5])


def test_label_maps_palette_grey_and_rgb(tmp_path: Path) -> None:
    labels = np.array([[0, 2, 5], [13, 14, 16]], np.uint8)
    pal = Image.fromarray(labels, mode="P")
    pal.putpalette([0, 0, 0, 128, 0, 0, 254, 0, 0] + [0] * (256 * 3 - 9))
    pal.save(tmp_path / "p.png")
    Image.fromarray(labels, mode="L").save(tmp_path / "l.png")
    assert np.array_equal(load_label_map(tmp_path / "p.png"), labels)
    assert np.array_equal(load_label_map(tmp_path / "l.png"), labels)
    cihp = {0: (0, 0, 0), 2: (254, 0, 0), 5: (254, 85, 0), 13: (0, 0, 254), 14: (51, 169, 220), 16: (85, 254, 169)}
    rgb = np.array([[cihp[v] for v in row] for row in labels], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(load_label_map(tmp_path / "rgb.png"), labels)
    with pytest.raises(ValueError):
        rgb_to_labels(np.full((2, 2, 3), 7, np.int64))
    mask = np.zeros((4, 4, 3), np.uint8)
    mask[:2] = 250  # JPEG-ish near-white
    Image.fromarray(mask).save(tmp_path / "m.png")
    assert load_binary_mask(tmp_path / "m.png").sum() == 8
    assert len(group_ids()) == 7


def test_benchmark_on_a_tiny_flat_folder(tmp_path: Path) -> None:
    """A folder with only images and COCO-18 poses: pose is scored, the other metrics are skipped with notes."""
    (tmp_path / "image").mkdir()
    (tmp_path / "pose").mkdir()
    Image.fromarray(np.full((256, 192, 3), 255, np.uint8)).save(tmp_path / "image" / "blank_0.jpg")
    kp = _coco_pose(scale=1.0)
    kp[:, :2] += 40
    doc = {"version": 1.0, "people": [{"pose_keypoints": kp.reshape(-1).tolist()}]}
    (tmp_path / "pose" / "blank_0_keypoints.json").write_text(json.dumps(doc))
    out = tmp_path / "q.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_annotation_quality.py"), str(tmp_path), "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["pose"]["images"] == 1 and summary["pose"]["images_missed"] == 1
    assert summary["pose"]["pck@0.1"] == 0.0
    assert "parse" not in summary and any("parse mIoU" in n for n in summary["notes"])
    assert "pose PCK@0.1" in proc.stdout


def test_benchmark_scores_one_category_of_the_pairs_file(tmp_path: Path) -> None:
    """--category keeps the persons whose pairs-file row names it; a category with no pair is a clear exit."""
    (tmp_path / "image").mkdir()
    (tmp_path / "pose").mkdir()
    kp = _coco_pose(scale=1.0)
    doc = {"version": 1.0, "people": [{"pose_keypoints": kp.reshape(-1).tolist()}]}
    for stem in ("a_0", "b_0", "c_0"):
        Image.fromarray(np.full((256, 192, 3), 255, np.uint8)).save(tmp_path / "image" / f"{stem}.jpg")
        (tmp_path / "pose" / f"{stem}_keypoints.json").write_text(json.dumps(doc))
    (tmp_path / "test_pairs.txt").write_text("a_0.jpg a_1.jpg dresses\nb_0.jpg b_1.jpg upper_body\nc_0.jpg c_1.jpg dresses\n")
    bench = [sys.executable, str(REPO / "benchmarks" / "bench_annotation_quality.py"), str(tmp_path)]
    out = tmp_path / "q.json"
    proc = subprocess.run([*bench, "--category", "dresses", "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["pose"]["images"] == 2
    proc = subprocess.run([*bench, "--category", "lower_body"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode != 0 and "no pair of category 'lower_body'" in proc.stderr


def test_benchmark_counts_refused_garments_apart(tmp_path: Path) -> None:
    """Nothing is left out: a refused garment is counted by reason and scored 0 in a second figure; a photo
    our parser finds nobody in is scored as all background."""
    (tmp_path / "image").mkdir()
    (tmp_path / "image-parse-v3").mkdir()
    ref_parse = np.zeros((256, 192), np.uint8)
    ref_parse[60:200, 50:142] = 5  # the reference sees a top where our parser sees nobody
    Image.fromarray(ref_parse, mode="L").save(tmp_path / "image-parse-v3" / "p_0.png")
    (tmp_path / "cloth").mkdir()
    (tmp_path / "cloth-mask").mkdir()
    Image.fromarray(np.full((256, 192, 3), 255, np.uint8)).save(tmp_path / "image" / "p_0.jpg")
    shirt = np.full((256, 192, 3), 255, np.uint8)
    truth = np.zeros((256, 192), np.uint8)
    truth[60:200, 50:142] = 255
    shirt[truth > 0] = (40, 60, 160)
    two = np.full((256, 192, 3), 255, np.uint8)
    two[40:110, 30:90] = (200, 40, 40)
    two[150:220, 100:170] = (40, 160, 60)  # two garments in one shot
    for name, img in (("a_1", shirt), ("b_1", two)):
        Image.fromarray(img).save(tmp_path / "cloth" / f"{name}.png")  # lossless: the IoU is exact
        Image.fromarray(truth).save(tmp_path / "cloth-mask" / f"{name}.png")
    out = tmp_path / "q.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_annotation_quality.py"), str(tmp_path), "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cloth = json.loads(out.read_text())["cloth_mask"]
    assert cloth["images"] == 1 and cloth["iou"] > 0.99
    assert cloth["refused"] == {"several_objects": 1}
    assert cloth["iou_refused_as_zero"] == pytest.approx(cloth["iou"] / 2, abs=1e-4)
    summary = json.loads(out.read_text())
    assert summary["errors"] == {}
    assert summary["parse"]["images"] == 1 and summary["parse"]["missed"] == ["p_0"]
    assert summary["parse"]["iou"]["upper-clothes"] == 0.0 and summary["parse"]["iou"]["background"] < 1.0
