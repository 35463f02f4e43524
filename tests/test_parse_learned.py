"""The learned parser: network, data, training with resume, ONNX export, and the ``learned`` backend."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.annotate.parse.builder import build_parser, parser_name
from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse.errors import ParserUnavailable
from pipeline.annotate.parse.labels import BACKGROUND, FACE, LEFT_ARM, RIGHT_ARM, UPPER
from pipeline.annotate.parse.palette_io import save_parse_png
from pipeline.models.parse_net import ParseNet, ParseNetConfig
from pipeline.train.parse_config import ParseTrainConfig
from pipeline.train.parse_data import ParseDataset, mirror
from pipeline.train.parse_trainer import train_parser
from pipeline.train.stage_runner import StagePaths

H, W = 48, 32


def _figure(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A grey backdrop with a red 'top' (upper-clothes), a skin 'face' above it and a blue 'left arm' beside it."""
    rgb = np.full((H, W, 3), 200, np.uint8)
    labels = np.zeros((H, W), np.uint8)
    x0, y0 = int(rng.integers(6, 12)), int(rng.integers(14, 20))
    rgb[y0 : y0 + 18, x0 : x0 + 12] = (200, 30, 30)
    labels[y0 : y0 + 18, x0 : x0 + 12] = UPPER
    rgb[y0 - 8 : y0 - 1, x0 + 3 : x0 + 9] = (230, 180, 150)
    labels[y0 - 8 : y0 - 1, x0 + 3 : x0 + 9] = FACE
    rgb[y0 : y0 + 14, x0 + 13 : x0 + 16] = (40, 40, 200)
    labels[y0 : y0 + 14, x0 + 13 : x0 + 16] = LEFT_ARM
    noise = rng.integers(-12, 13, rgb.shape)
    return np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8), labels


def _write_set(root: Path, n_train: int = 24, n_test: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        (root / split / "image").mkdir(parents=True)
        (root / split / "image-parse-v3").mkdir()
        for i in range(n):
            rgb, labels = _figure(rng)
            cv2.imwrite(str(root / split / "image" / f"{i:05d}_00.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
            save_parse_png(root / split / "image-parse-v3" / f"{i:05d}_00.png", labels)
    return root


def _cfg(root: Path, **kw: object) -> ParseTrainConfig:
    base = {"dataset": str(root), "size": [H, W], "widths": [8, 16], "epochs": 6, "batch_size": 4, "lr": 0.01,
            "lr_decay": 0.9, "augment": 0.0, "workers": 0, "threads": 1, "mlflow_experiment": "", "limit_val": None}
    return ParseTrainConfig.from_dict({**base, **kw})


def test_network_gives_logits_per_label_at_input_size() -> None:
    net = ParseNet(ParseNetConfig(widths=(8, 16, 32))).eval()
    assert net(torch.zeros(2, 3, 64, 48)).shape == (2, 20, 64, 48)


def test_mirror_swaps_left_and_right_labels() -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    labels = np.zeros((4, 6), np.uint8)
    labels[:, 0] = LEFT_ARM
    labels[:, 5] = UPPER
    rgb[:, 0] = 255
    out_rgb, out = mirror(rgb, labels)
    assert (out[:, 5] == RIGHT_ARM).all() and (out[:, 0] == UPPER).all()
    assert (out_rgb[:, 5] == 255).all() and (out_rgb[:, 0] == 0).all()


def test_dataset_counts_images_without_a_parse_map_and_letterboxes(tmp_path: Path) -> None:
    root = _write_set(tmp_path / "set", n_train=4, n_test=1)
    (root / "train" / "image-parse-v3" / "00001_00.png").unlink()
    (root / "train" / "image" / "00003_00.jpg").write_bytes(b"not a jpeg")
    save_parse_png(root / "train" / "image-parse-v3" / "00003_00.png", np.zeros((H, W), np.uint8))
    save_parse_png(root / "train" / "image-parse-v3" / "00002_00.png", np.zeros((H + 2, W), np.uint8))
    ds = ParseDataset(root, "train", (96, 96))
    assert len(ds) == 1 and dict(ds.skipped) == {"parse_missing": 1, "unreadable": 1, "size_mismatch": 1}
    x, y = ds[0]
    assert x.shape == (3, 96, 96) and y.shape == (96, 96)
    # 32x48 fitted into 96x96 is 64 wide: 16 columns of zero padding each side, labelled background.
    assert (y[:, :16] == BACKGROUND).all() and float(x[:, :, :16].max()) == -1.0


def test_config_names_the_bad_param(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_parse.size"):
        _cfg(tmp_path, size=[50, 32])
    with pytest.raises(ValueError, match="unknown train_parse param"):
        _cfg(tmp_path, epoch=3)


def test_trains_resumes_exports_and_runs_as_the_learned_backend(tmp_path: Path) -> None:
    root = _write_set(tmp_path / "set")
    paths = StagePaths(tmp_path / "out", tmp_path / "metrics" / "train_parse.json", tmp_path / "metrics" / "history.csv")
    first = train_parser(_cfg(root, epochs=4), paths)
    assert first["epochs"] == 4 and first["resumed_from_epoch"] == 0
    # More epochs with the same recipe carry on from the checkpoint, not from scratch.
    metrics = train_parser(_cfg(root, epochs=12), paths)
    assert metrics["resumed_from_epoch"] == 4 and metrics["epochs"] == 12
    assert metrics["val_upper-clothes"] > 0.8 and metrics["val_face"] > 0.5, metrics
    assert metrics["onnx_max_abs_diff"] < 1e-3
    assert len(paths.history_csv.read_text().splitlines()) == 13
    # DVC deletes the non-persistent outs before a re-run: a run with no epoch left still writes them.
    paths.history_csv.unlink()
    again = train_parser(_cfg(root, epochs=12), paths)
    assert again["resumed_from_epoch"] == 12 and len(paths.history_csv.read_text().splitlines()) == 13

    meta = json.loads((paths.model / "meta.json").read_text())
    assert meta["parse"]["onnx_input_size"] == [H, W] and meta["best_epoch"] >= 1
    cfg = ParseConfig(backend="learned", learned_model=str(paths.model))
    assert parser_name(cfg).startswith("onnx-cihp:parser.onnx:")
    parser = build_parser(cfg)
    rgb, truth = _figure(np.random.default_rng(7))
    # A photo twice the training size: the backend letterboxes it down and maps labels back up.
    big = cv2.resize(rgb, (W * 2, H * 2), interpolation=cv2.INTER_NEAREST)
    pred = parser.parse(big)
    assert pred.shape == (H * 2, W * 2) and pred.dtype == np.uint8
    small = cv2.resize(pred, (W, H), interpolation=cv2.INTER_NEAREST)
    top = truth == UPPER
    assert (small[top] == UPPER).mean() > 0.8 and (small[truth == BACKGROUND] == BACKGROUND).mean() > 0.9


def test_learned_backend_without_a_model_names_the_param(tmp_path: Path) -> None:
    with pytest.raises(ParserUnavailable, match="parse.learned_model"):
        build_parser(ParseConfig(backend="learned"))
    with pytest.raises(ParserUnavailable, match="train_parse"):
        build_parser(ParseConfig(backend="learned", learned_model=str(tmp_path)))
    (tmp_path / "parser.onnx").write_bytes(b"x")
    (tmp_path / "meta.json").write_text('{"parse": {"onnx_threads": 9}}')
    with pytest.raises(ParserUnavailable, match="not a train_parse model description"):
        build_parser(ParseConfig(backend="learned", learned_model=str(tmp_path)))


def test_changed_training_data_starts_afresh(tmp_path: Path) -> None:
    root = _write_set(tmp_path / "set", n_train=8, n_test=2)
    paths = StagePaths(tmp_path / "out", tmp_path / "m.json", tmp_path / "h.csv")
    train_parser(_cfg(root, epochs=1), paths)
    rgb, labels = _figure(np.random.default_rng(3))
    save_parse_png(root / "train" / "image-parse-v3" / "00000_00.png", labels)  # an upstream re-run rewrote it
    assert train_parser(_cfg(root, epochs=2), paths)["resumed_from_epoch"] == 0


@pytest.mark.parametrize(("flag", "param"), [("--parse-model", "parse.learned_model"), ("--pose-refiner", "pose.refiner_model")])
def test_commands_name_the_param_when_a_learned_model_is_missing(
    flag: str, param: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The learned parser's and the pose refiner's flags, on vton tryon and vton annotate."""
    import matplotlib.cbook
    from PIL import Image

    from pipeline.cli import main
    from tests.train_helpers import write_random_bundle

    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    garment = tmp_path / "tee.png"
    Image.new("RGB", (96, 128), "white").save(garment)
    bundle = write_random_bundle(tmp_path / "bundle", (256, 192))
    missing = tmp_path / "no-model"
    rc = main(["tryon", "--person", str(photo), "--garment", str(garment), "--output", str(tmp_path / "o.png"),
               "--model", str(bundle), "--device", "cpu", flag, str(missing)])
    assert rc == 1 and param in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    persons = tmp_path / "persons"
    persons.mkdir()
    (persons / "grace.jpg").write_bytes(photo.read_bytes())
    rc = main(["annotate", "--persons", str(persons), "--out", str(tmp_path / "out"), flag, str(missing)])
    assert rc == 1 and param in capsys.readouterr().err


def test_training_with_augmentation_in_a_worker_repeats_exactly(tmp_path: Path) -> None:
    root = _write_set(tmp_path / "set", n_train=8, n_test=2)
    runs = []
    for name in ("a", "b"):
        paths = StagePaths(tmp_path / name, tmp_path / f"{name}.json", tmp_path / f"{name}.csv")
        runs.append(train_parser(_cfg(root, epochs=2, augment=1.0, workers=1), paths)["train_loss"])
    assert runs[0] == runs[1]
