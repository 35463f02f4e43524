"""The keypoint refiner: crops, the network, training on a data set's own poses, and its use by the pose estimator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.annotate.body25 import L_HIP, MID_HIP, R_HIP
from pipeline.annotate.joint_crops import DEFAULT_JOINTS, KeypointRefinerConfig, crop_torso, joint_crops, joint_crops_many
from pipeline.annotate.openpose_format import to_openpose_dict
from pipeline.annotate.pose import PoseConfig, PoseEstimator
from pipeline.annotate.pose_refiner import PoseRefiner, PoseRefinerUnavailable
from pipeline.demoshop.persons import load_base_photo
from pipeline.models.keypoint_refiner import KeypointRefinerNet, crops_tensor
from pipeline.train.pose_refine_config import PoseRefineTrainConfig
from pipeline.train.pose_refine_trainer import POSE_CACHE, train_pose_refiner
from pipeline.train.stage_runner import StagePaths

# The data set's annotators put these joints this many torso lengths below ours: past PCK@0.1.
SHIFT = 0.15


def test_config_rejects_joints_it_cannot_mirror_or_refine() -> None:
    with pytest.raises(ValueError, match=r"add \[12\]"):
        KeypointRefinerConfig(joints=(9,))
    with pytest.raises(ValueError, match="neck"):
        KeypointRefinerConfig(joints=(1,))
    with pytest.raises(ValueError, match="unknown train_pose_refine param"):
        PoseRefineTrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="train_pose_refine: joints"):
        PoseRefineTrainConfig.from_dict({"joints": [9]})
    with pytest.raises(ValueError, match="pose.refiner_threads"):
        PoseConfig.from_dict({"refiner_threads": 0})


def test_crops_follow_the_joint_and_the_torso() -> None:
    cfg = KeypointRefinerConfig()
    img = np.zeros((200, 100, 3), np.uint8)
    img[100:, :] = 255  # white below row 100
    crops = joint_crops(img, 50.0, 100.0, 50.0, cfg)
    assert crops.shape == (64, 64, 6) and crops.dtype == np.uint8
    # Centred on the edge: the top half of each crop is black, the bottom half white.
    assert crops[:28, :, :].max() == 0 and crops[36:, :, :].min() == 255
    # The second scale covers twice as much: a joint 10 px above the edge puts the edge lower in the
    # first crop than in the second.
    up = joint_crops(img, 50.0, 90.0, 50.0, cfg)
    first_white = lambda c: int(np.argmax(c[:, 32] > 127))  # noqa: E731
    assert first_white(up[:, :, 0]) > first_white(up[:, :, 3]) > 32
    assert np.array_equal(joint_crops(img, 30.0, 100.0, 50.0, cfg, mirror=True), joint_crops(img, 30.0, 100.0, 50.0, cfg)[:, ::-1])
    body = np.zeros((25, 3))
    assert crop_torso(body) is None
    body[[1, R_HIP, L_HIP]] = [[50, 20, 1], [40, 120, 1], [60, 120, 1]]
    assert crop_torso(body) == pytest.approx(100.0)


def test_crops_of_a_large_picture_do_not_alias() -> None:
    """Columns alternating black and white, shrunk fourfold: grey, as area averaging gives, not stripes."""
    cfg = KeypointRefinerConfig()
    img = np.zeros((1024, 768, 3), np.uint8)
    img[:, ::2] = 255
    crops = joint_crops_many(img, np.array([[384.0, 300.0], [200.0, 500.0]]), 320.0, cfg)  # k = 0.25 and 0.125
    assert crops.shape == (2, 64, 64, 6)
    assert np.abs(crops.astype(int) - 127).max() <= 2
    # The same point cropped alone or with others gives the same pixels.
    assert np.array_equal(joint_crops(img, 200.0, 500.0, 320.0, cfg), crops[1])


def test_a_new_network_moves_nothing() -> None:
    net = KeypointRefinerNet(KeypointRefinerConfig()).eval()
    out = net(crops_tensor(np.random.default_rng(0).integers(0, 255, (3, 64, 64, 6), dtype=np.uint8)))
    assert out.shape == (3, len(DEFAULT_JOINTS), 2) and float(out.detach().abs().max()) == 0.0


def test_a_missing_refiner_says_which_param_provides_it(tmp_path: Path) -> None:
    with pytest.raises(PoseRefinerUnavailable, match="pose.refiner_model"):
        PoseRefiner(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "refiner.onnx").write_bytes(b"not onnx")
    (tmp_path / "bad" / "meta.json").write_text(json.dumps({"refiner": {"joints": [9, 12]}}))
    with pytest.raises(PoseRefinerUnavailable, match="could not be loaded.*train_pose_refine"):
        PoseRefiner(tmp_path / "bad")
    with pytest.raises(PoseRefinerUnavailable, match="pose.refiner_model"):
        PoseEstimator(PoseConfig(refiner_model=str(tmp_path / "nothing")))


def _pictures() -> list[np.ndarray]:
    """Eight framings of the package-shipped astronaut (the shipped photo whose hips show): crops, pads, mirrors."""
    base = load_base_photo("astronaut")
    h, w = base.shape[:2]
    out = []
    for k, (top, pad) in enumerate(((0, 0), (h // 10, 0), (0, w // 6), (h // 20, w // 10),
                                    (h // 8, w // 20), (h // 16, w // 4), (h // 30, w // 8), (h // 12, w // 12))):
        img = np.pad(base[top:], ((0, 0), (pad, pad), (0, 0)), mode="edge")
        out.append(np.ascontiguousarray(img[:, ::-1] if k % 2 else img))
    return out


@pytest.fixture(scope="module")
def shifted_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A VITON-HD layout whose poses are ours with every refined joint moved ``SHIFT`` torso lengths down."""
    root = tmp_path_factory.mktemp("refine")
    ours: dict[str, np.ndarray] = {}
    with PoseEstimator(PoseConfig()) as est:
        for i, rgb in enumerate(_pictures()):
            split = "tune" if i in (3, 7) else "train"
            (root / split / "image").mkdir(parents=True, exist_ok=True)
            (root / split / "openpose_json").mkdir(parents=True, exist_ok=True)
            stem = f"{i:02d}_00"
            Image.fromarray(rgb).save(root / split / "image" / f"{stem}.jpg", quality=95)
            # Our pose of the saved JPEG, as the trainer will see it.
            result = est.estimate(np.asarray(Image.open(root / split / "image" / f"{stem}.jpg").convert("RGB")))
            assert result is not None, stem
            body = np.array(result.body)
            ours[stem] = body.copy()
            torso = crop_torso(body)
            for j in DEFAULT_JOINTS:
                if body[j, 2] > 0:
                    body[j, 1] += SHIFT * torso
            body[MID_HIP, :2] = (body[R_HIP, :2] + body[L_HIP, :2]) / 2
            (root / split / "openpose_json" / f"{stem}_keypoints.json").write_text(json.dumps(to_openpose_dict(body)))
    return root, ours


def test_the_refiner_learns_where_the_data_set_puts_joints(shifted_dataset: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    root, ours = shifted_dataset
    cfg = PoseRefineTrainConfig.from_dict({"dataset": str(root), "epochs": 80, "batch_size": 8, "lr": 0.005,
                                           "widths": [8, 16, 16, 16], "workers": 1, "threads": 2, "mlflow_experiment": ""})
    paths = StagePaths(tmp_path / "out", tmp_path / "metrics.json", tmp_path / "history.csv")
    metrics = train_pose_refiner(cfg, PoseConfig(), paths)
    assert metrics["val_pck_ours"] < 0.2  # the shift is past the threshold
    assert metrics["val_pck_refined"] >= 0.8, metrics
    assert metrics["val_split"] == "tune" and metrics["train_crops"] > 20
    assert metrics["onnx_max_abs_diff"] < 1e-4
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 80
    cache = paths.checkpoints / POSE_CACHE
    stamp = cache.stat().st_mtime_ns
    # Through the estimator, on a held-out picture: the hips come down by about the shift.
    stem = "03_00"
    rgb = np.asarray(Image.open(root / "tune" / "image" / f"{stem}.jpg").convert("RGB"))
    with PoseEstimator(PoseConfig(refiner_model=str(paths.model))) as est:
        refined = est.estimate(rgb).body
    base = ours[stem]
    torso = crop_torso(base)
    for j in (R_HIP, L_HIP):
        assert (refined[j, 1] - base[j, 1]) / torso == pytest.approx(SHIFT, abs=0.04), j
        assert abs(refined[j, 0] - base[j, 0]) / torso < 0.07
    assert refined[MID_HIP, 1] == pytest.approx((refined[R_HIP, 1] + refined[L_HIP, 1]) / 2)
    # A second training on the same pictures reuses our poses instead of estimating them again.
    again = train_pose_refiner(PoseRefineTrainConfig.from_dict({**cfg.to_dict(), "epochs": 1}), PoseConfig(), paths)
    assert cache.stat().st_mtime_ns == stamp and again["best_epoch"] <= 1


def test_too_few_poses_fail_clearly(tmp_path: Path) -> None:
    for split in ("train", "tune"):
        (tmp_path / split / "image").mkdir(parents=True)
        Image.fromarray(np.full((64, 48, 3), 200, np.uint8)).save(tmp_path / split / "image" / "blank_00.jpg")
    cfg = PoseRefineTrainConfig.from_dict({"dataset": str(tmp_path), "workers": 1, "mlflow_experiment": ""})
    paths = StagePaths(tmp_path / "out", tmp_path / "m.json", tmp_path / "h.csv")
    with pytest.raises(ValueError, match="too few joints"):
        train_pose_refiner(cfg, PoseConfig(), paths)
    assert not (tmp_path / "out" / "model").exists()

