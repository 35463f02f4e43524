"""Importing published data sets: VITON (LIP parse, COCO-18 pose, JPEG cloth masks), Dress Code, VITON-HD."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.dataset.annotation_record import read_annotation
from pipeline.dataset.importer import ImportConfig, import_dataset, read_dresscode_keypoints, repair_source_mask
from pipeline.dataset.source_formats import SourceLayoutError, detect_format
from pipeline.dataset.validate import validate_dataset
from pipeline.quality.metrics import mask_iou
from pipeline.train.data import VitonDataset
from pipeline.train.pose_maps import read_openpose
from tests.synthetic_viton import COCO_TO_BODY25, write_synthetic_viton, write_viton_style

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
@pytest.fixture()
def viton(tmp_path: Path) -> Path:
    return write_viton_style(tmp_path / "viton")


def test_viton_import_maps_labels_pose_and_masks(viton: Path, tmp_path: Path) -> None:
    assert detect_format(viton) == "viton"
    out = tmp_path / "out"
    report = import_dataset(ImportConfig(source=str(viton), workers=1), out, progress=False)
    assert report.pairs == {"train": 3, "test": 2} and not report.metrics.skipped
    assert validate_dataset(out, progress=False).ok
    assert (out / "train_pairs.txt").read_text().splitlines()[0] == "00000_0.jpg 00000_1.jpg upper_body"
    record = read_annotation(out)  # the settings every model trained on it will annotate with
    assert record is not None and record["labels"].startswith("the source's own") and record["agnostic"]["keep_hands"] is True
    # COCO-18 -> BODY_25: joints keep their place, MidHip is the hips' mean, feet are absent.
    src = json.loads((viton / "train" / "pose" / "00000_0_keypoints.json").read_text())["people"][0]["pose_keypoints"]
    coco = np.asarray(src).reshape(18, 3)
    body = read_openpose(out / "train" / "openpose_json" / "00000_0_keypoints.json")
    assert body.shape == (25, 3)
    assert np.allclose(body[list(COCO_TO_BODY25)], coco, atol=1e-3)
    assert np.allclose(body[8, :2], (coco[8, :2] + coco[11, :2]) / 2, atol=1e-3) and body[19:, 2].max() == 0
    # The lossy JPEG mask is thresholded into a lossless black-and-white PNG.
    mask = np.asarray(Image.open(out / "train" / "cloth-mask" / "00000_1.png"))
    assert set(np.unique(mask)) <= {0, 255}
    grey = np.asarray(Image.open(viton / "train" / "cloth-mask" / "00000_1.jpg"))
    assert ((grey > 0) & (grey < 255)).any()  # the source really was lossy
    assert np.array_equal(mask == 255, grey >= 128)
    # Parse in CIHP ids: the shirt is upper-clothes (5), the agnostic parse has none of it.
    labels = np.asarray(Image.open(out / "train" / "image-parse-v3" / "00000_0.png"))
    agn = np.asarray(Image.open(out / "train" / "image-parse-agnostic-v3.2" / "00000_0.png"))
    assert (labels == 5).sum() > 100 and (agn == 5).sum() == 0 and labels.max() < 20
    # The training reader takes the garment from the pairs file: X_0 wears X_1.
    ds = VitonDataset(out, "train", size=(64, 48))
    assert [(p.name, p.cloth_name) for p in ds.pairs][0] == ("00000_0.jpg", "00000_1.jpg")
    assert ds[0]["agnostic_mask"].sum() > 0


def test_lip_jumpsuit_becomes_dress_and_neck_is_recovered(viton: Path, tmp_path: Path) -> None:
    path = viton / "train" / "image-parse" / "00001_0.png"
    labels = np.asarray(Image.open(path)).copy()
    labels[labels == 9] = 10  # LIP 10 = jumpsuits
    Image.fromarray(labels, mode="L").save(path)
    out = tmp_path / "out"
    import_dataset(ImportConfig(source=str(viton), workers=1), out, progress=False)
    cihp = np.asarray(Image.open(out / "train" / "image-parse-v3" / "00001_0.png"))
    assert (cihp[labels == 10] == 6).all()  # CIHP dress
    # The synthetic neck (skin under the face) comes back as CIHP 10.
    assert (np.asarray(Image.open(out / "train" / "image-parse-v3" / "00000_0.png")) == 10).any()


def test_missing_and_broken_files_are_counted_skips(viton: Path, tmp_path: Path) -> None:
    (viton / "train" / "pose" / "00001_0_keypoints.json").unlink()
    (viton / "train" / "cloth" / "00002_1.jpg").write_bytes(b"not a jpeg")
    (viton / "val" / "image-parse" / "00003_0.png").write_text("{}")
    out = tmp_path / "out"
    report = import_dataset(ImportConfig(source=str(viton), workers=1), out, progress=False)
    assert report.pairs == {"train": 1, "test": 1}
    assert dict(report.metrics.skipped) == {"missing_pose": 1, "unreadable_image": 1, "unreadable_annotation": 1}
    assert (out / "train_pairs.txt").read_text().count("\n") == 1
    assert validate_dataset(out, progress=False).ok


def _shirt_shot(height: int = 256, width: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """A printed T-shirt on a white backdrop and its true mask."""
    rgb = np.full((height, width, 3), 250, np.uint8)
    mask = np.zeros((height, width), bool)
    mask[int(0.15 * height):int(0.9 * height), int(0.25 * width):int(0.75 * width)] = True  # body
    mask[int(0.15 * height):int(0.4 * height), int(0.08 * width):int(0.92 * width)] = True  # sleeves
    rgb[mask] = (240, 180, 150)
    rgb[int(0.4 * height):int(0.5 * height), int(0.35 * width):int(0.65 * width)] = (30, 30, 30)  # the print
    return rgb, mask


def test_broken_source_masks_are_repaired() -> None:
    rgb, true = _shirt_shot()
    cfg = ImportConfig(source="x")
    kept, flag = repair_source_mask(true, rgb, cfg)
    assert flag == "" and np.array_equal(kept, true)
    # Hollow: only the outline and the dark print were set, as in some of VITON's masks.
    inner = np.roll(true, 4, 0) & np.roll(true, -4, 0) & np.roll(true, 4, 1) & np.roll(true, -4, 1)
    hollow = true & ~inner
    hollow[int(0.4 * 256):int(0.5 * 256), int(0.35 * 192):int(0.65 * 192)] = True
    assert mask_iou(hollow, true) < 0.4
    fixed, flag = repair_source_mask(hollow, rgb, cfg)
    assert flag == "cloth_mask_repaired_hollow" and mask_iou(fixed, true) > 0.95
    assert (fixed >= hollow).all(), "the source's pixels are kept"
    full, flag = repair_source_mask(np.ones_like(true), rgb, cfg)
    assert flag == "cloth_mask_repaired_full" and mask_iou(full, true) > 0.95
    # A shot the cloth-mask code cannot read keeps its source mask.
    noisy = np.random.default_rng(0).integers(0, 256, rgb.shape, dtype=np.uint8)
    same, flag = repair_source_mask(hollow, noisy, cfg)
    assert flag == "" and np.array_equal(same, hollow)
    with pytest.raises(ValueError, match="hollow_share"):
        ImportConfig.from_dict({"source": "x", "hollow_share": 1.5})


def test_import_counts_repaired_masks(viton: Path, tmp_path: Path) -> None:
    rgb, true = _shirt_shot()
    Image.fromarray(rgb).save(viton / "train" / "cloth" / "00000_1.jpg", quality=95)
    Image.fromarray(np.full(true.shape, 255, np.uint8)).save(viton / "train" / "cloth-mask" / "00000_1.jpg")
    out = tmp_path / "out"
    report = import_dataset(ImportConfig(source=str(viton), workers=1), out, progress=False)
    assert report.metrics.extra["flags"] == {"cloth_mask_repaired_full": 1}
    mask = np.asarray(Image.open(out / "train" / "cloth-mask" / "00000_1.png")) == 255
    assert mask_iou(mask, true) > 0.95
    plain = import_dataset(ImportConfig(source=str(viton), workers=1, repair_masks=False), tmp_path / "plain", progress=False)
    assert "flags" not in plain.metrics.extra
    assert (np.asarray(Image.open(tmp_path / "plain" / "train" / "cloth-mask" / "00000_1.png")) == 255).all()


def test_tune_split_and_limit(viton: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = import_dataset(ImportConfig(source=str(viton), workers=1, tune_pairs=1, limit=2), out, progress=False)
    assert report.pairs == {"train": 1, "tune": 1, "test": 2}
    assert (out / "tune_pairs.txt").read_text().startswith("00001_0.jpg")
    with pytest.raises(ValueError, match="tune_pairs"):
        import_dataset(ImportConfig(source=str(viton), workers=1, tune_pairs=5), tmp_path / "x", progress=False)


def test_vitonhd_source_keeps_its_files(tmp_path: Path) -> None:
    src = write_synthetic_viton(tmp_path / "hd", n_train=2, n_test=1)
    shutil.rmtree(src / "test" / "agnostic-v3.2")  # lacking: computed
    out = tmp_path / "out"
    report = import_dataset(ImportConfig(source=str(src), workers=1), out, progress=False)
    assert report.pairs == {"train": 2, "test": 1}
    for folder, name in (("image-parse-v3", "00000_00.png"), ("openpose_json", "00000_00_keypoints.json"),
                         ("agnostic-v3.2", "00000_00.jpg")):
        assert (out / "train" / folder / name).read_bytes() == (src / "train" / folder / name).read_bytes()
    assert (out / "test" / "agnostic-v3.2" / "00002_00.jpg").is_file()


def test_dresscode_keypoints_and_layout(tmp_path: Path) -> None:
    kp = tmp_path / "k.json"
    points = [[10.0 * i, 20.0 * i, 0.9, float(i)] for i in range(18)]
    points[3] = [-1.0, -1.0, 0.0, 3.0]
    kp.write_text(json.dumps({"keypoints": points}))
    body = read_dresscode_keypoints(kp, image_width=768)
    assert body.shape == (25, 3)
    assert np.allclose(body[1, :2], (20, 40)) and body[3, 2] == 0  # scaled by 2; missing stays missing
    assert np.allclose(body[8, :2], (190, 380))  # MidHip: mean of COCO hips 8 (160, 320) and 11 (220, 440)
    with pytest.raises(SourceLayoutError):
        detect_format(tmp_path)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="import_data.source is empty"):
        ImportConfig.from_dict({"source": ""})
    with pytest.raises(ValueError, match="unknown import_data"):
        ImportConfig.from_dict({"source": "x", "sauce": 1})
    with pytest.raises(ValueError, match="format"):
        ImportConfig.from_dict({"source": "x", "format": "zalando"})


@pytest.mark.skipif(not (SHARED / "dresscode15").is_dir(), reason="shared Dress Code samples absent")
def test_real_dresscode_samples_import(tmp_path: Path) -> None:
    out = tmp_path / "dc"
    report = import_dataset(ImportConfig(source=str(SHARED / "dresscode15"), workers=1), out, progress=False)
    assert report.pairs["test"] >= 12, report.metrics.to_dict()
    cats = {line.split()[2] for line in (out / "test_pairs.txt").read_text().splitlines()}
    assert cats == {"upper_body", "lower_body", "dresses"}
    body = read_openpose(out / "test" / "openpose_json" / "000000_0_keypoints.json")
    assert 0.3 * 768 < body[1, 0] < 0.7 * 768  # the neck near the middle of the 768-wide photo


@pytest.mark.skipif(not (SHARED / "viton256").is_dir(), reason="shared VITON data absent")
def test_real_viton_samples_import(tmp_path: Path) -> None:
    out = tmp_path / "v"
    report = import_dataset(ImportConfig(source=str(SHARED / "viton256"), workers=1, limit=8), out, progress=False)
    assert report.pairs == {"train": 8, "test": 8}
    assert validate_dataset(out, progress=False).ok


@pytest.mark.skipif(not (SHARED / "viton256").is_dir(), reason="shared VITON data absent")
def test_reannotate_uses_the_projects_parse_and_pose(tmp_path: Path) -> None:
    cfg = ImportConfig(source=str(SHARED / "viton256"), workers=1, limit=2, reannotate=True, splits={"test": ("val",)})
    report = import_dataset(cfg, tmp_path / "v", progress=False)
    assert report.pairs == {"test": 2}, report.metrics.to_dict()
    name = (tmp_path / "v" / "test_pairs.txt").read_text().split()[0]
    stem = Path(name).stem
    ours = np.asarray(Image.open(tmp_path / "v" / "test" / "image-parse-v3" / f"{stem}.png"))
    theirs = np.asarray(Image.open(SHARED / "viton256" / "val" / "image-parse" / f"{stem}.png"))
    assert not np.array_equal(ours, theirs)  # a parse of our own, not the source's mapped
    assert (ours == 13).sum() > 0.3 * (theirs == 13).sum()  # ... that still finds the face
    body = read_openpose(tmp_path / "v" / "test" / "openpose_json" / f"{stem}_keypoints.json")
    assert body[[1, 2, 5], 2].min() > 0.3  # neck and shoulders found
    assert body[15:19, 2].max() > 0  # eyes and ears, from the project's estimator


def test_labels_made_by_the_project_itself_are_named_so(viton: Path, tmp_path: Path) -> None:
    """A source the dataset stage wrote (provenance.json) is the project's own annotation: networks trained to
    reproduce it (train_parse, train_pose_refine) measure imitation, and their metrics say so."""
    import shutil

    from pipeline.dataset.annotation_record import read_annotation, reference_labels, write_provenance

    import_dataset(ImportConfig(source=str(viton), workers=1), tmp_path / "published", progress=False)
    labels, own = reference_labels(tmp_path / "published")
    assert not own and "source's own" in labels
    ours = tmp_path / "ours"
    shutil.copytree(viton, ours)
    write_provenance(ours)
    import_dataset(ImportConfig(source=str(ours), workers=1), tmp_path / "imported", progress=False)
    labels, own = reference_labels(tmp_path / "imported")
    assert own and "own parse and pose stages" in labels
    assert read_annotation(tmp_path / "imported") is not None  # still a valid record for the engine
