"""The data-set reader on a synthetic VITON-HD folder and on the real samples in shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.train.data import DatasetLayoutError, VitonDataset
from pipeline.train.parse_groups import NUM_GROUPS
from pipeline.train.pose_maps import read_openpose
from tests.synthetic_viton import write_synthetic_viton

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TRAIN16 = SHARED / "vitonhd_train16"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_viton(tmp_path_factory.mktemp("viton"), n_train=4, n_test=2)


def test_item_shapes_ranges_and_contents(synthetic: Path) -> None:
    ds = VitonDataset(synthetic, "train", size=(64, 48))
    assert len(ds) == 4 and len(VitonDataset(synthetic, "test", size=(64, 48))) == 2
    item = ds[0]
    assert item["name"] == "00000_00.jpg" and item["category"] == "upper_body"
    for key, channels in [("image", 3), ("cloth", 3), ("agnostic", 3), ("cloth_mask", 1), ("worn_mask", 1),
                          ("parse_agnostic", NUM_GROUPS), ("pose", 25)]:
        assert item[key].shape == (channels, 64, 48), key
    assert item["image"].min() >= -1 and item["image"].max() <= 1
    # One-hot groups sum to exactly one per pixel.
    assert torch.equal(item["parse_agnostic"].sum(0), torch.ones(64, 48))
    # The worn shirt is upper-clothes (CIHP 5), and the agnostic parse no longer has it (group 3 = upper).
    labels = np.asarray(Image.open(synthetic / "train" / "image-parse-v3" / "00000_00.png").resize((48, 64), Image.NEAREST))
    assert item["worn_mask"].sum() > 50 and torch.equal(item["worn_mask"][0], torch.from_numpy(labels == 5).float())
    assert item["parse_agnostic"][3].sum() == 0
    # Heatmap peaks sit on the scaled keypoints; unseen joints are empty.
    kps = read_openpose(synthetic / "train" / "openpose_json" / "00000_00_keypoints.json")
    peak = int(item["pose"][1].flatten().argmax())
    y, x = divmod(peak, 48)
    assert abs(x - kps[1, 0] / 2) <= 1 and abs(y - kps[1, 1] / 2) <= 1
    assert item["pose"][24].sum() == 0


def test_aspect_is_preserved_by_padding(synthetic: Path) -> None:
    ds = VitonDataset(synthetic, "train", size=(64, 64))
    item = ds[0]
    # 128x96 into 64x64: 48 wide, centred, white bands of 8 columns each side.
    assert torch.all(item["image"][:, :, :8] == 1.0) and torch.all(item["image"][:, :, -8:] == 1.0)
    assert item["cloth_mask"][:, :, :8].sum() == 0


def test_missing_and_broken_files_are_counted_skips(tmp_path: Path) -> None:
    root = write_synthetic_viton(tmp_path / "d", n_train=4, n_test=1)
    (root / "train" / "cloth" / "00001_00.jpg").unlink()
    (root / "train" / "image-parse-v3" / "00002_00.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    ds = VitonDataset(root, "train", size=(64, 48))
    assert [p.name for p in ds.pairs] == ["00000_00.jpg", "00003_00.jpg"]
    assert ds.skipped == {"missing_file": 1, "unreadable_image": 1}
    assert all(ds[i]["image"].shape == (3, 64, 48) for i in range(len(ds)))


def test_clear_errors_for_bad_layouts(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        VitonDataset(tmp_path / "nope", "train")
    root = write_synthetic_viton(tmp_path / "d", n_train=2, n_test=1)
    with pytest.raises(DatasetLayoutError, match="no 'val' split"):
        VitonDataset(root, "val")
    import shutil
    shutil.rmtree(root / "train" / "openpose_json")
    with pytest.raises(DatasetLayoutError, match="openpose_json"):
        VitonDataset(root, "train")


def test_flat_layout_coco18_pose_and_categories(tmp_path: Path) -> None:
    root = write_synthetic_viton(tmp_path / "flat", n_train=3, nested=False)
    # COCO-18 JSON as the original VITON release writes it.
    kps = np.zeros((18, 3))
    kps[8] = (30, 80, 0.9)
    kps[11] = (60, 80, 0.9)
    (root / "openpose_json" / "00000_00_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints": kps.reshape(-1).tolist()}]}))
    (root / "train_pairs.txt").write_text("00000_00.jpg 00000_00.jpg 2\n00001_00.jpg 00001_00.jpg upper_body\n")
    ds = VitonDataset(root, "train", size=(128, 96))
    assert len(ds) == 2 and ds.pairs[0].category == "dresses"
    item = ds[0]
    # MidHip (BODY_25 joint 8) is the mean of the two hips; the dress label (6) is absent, so empty mask.
    y, x = divmod(int(item["pose"][8].flatten().argmax()), 96)
    assert (x, y) == (45, 80) and item["worn_mask"].sum() == 0


def test_unpaired_mode_uses_second_column(synthetic: Path, tmp_path: Path) -> None:
    (synthetic / "test_pairs.txt").write_text("00004_00.jpg 00005_00.jpg\n00005_00.jpg 00004_00.jpg\n")
    ds = VitonDataset(synthetic, "test", size=(64, 48), pair_mode="unpaired")
    assert [(p.name, p.cloth_name) for p in ds.pairs] == [("00004_00.jpg", "00005_00.jpg"), ("00005_00.jpg", "00004_00.jpg")]


def test_paired_mode_reads_the_cloth_column_of_a_viton_style_folder(tmp_path: Path) -> None:
    """VITON names the garment of ``X_0.jpg`` ``X_1.jpg``: paired mode must follow the pairs file."""
    root = write_synthetic_viton(tmp_path / "viton", n_train=3, nested=False)
    for stem in ("00000", "00001", "00002"):
        for folder in ("cloth", "cloth-mask"):
            (root / folder / f"{stem}_00.jpg").rename(root / folder / f"{stem}_01.jpg")
    # The third line has no cloth column: its person's own name is used, and that file is missing.
    (root / "train_pairs.txt").write_text("00000_00.jpg 00000_01.jpg\n00001_00.jpg 00001_01.jpg\n00002_00.jpg\n")
    ds = VitonDataset(root, "train", size=(64, 48))
    assert [(p.name, p.cloth_name) for p in ds.pairs] == [("00000_00.jpg", "00000_01.jpg"), ("00001_00.jpg", "00001_01.jpg")]
    assert ds.pairs[0].cloth_mask.name == "00000_01.jpg"
    assert ds.skipped == {"missing_file": 1}
    item = ds[1]
    original = np.asarray(Image.open(root / "cloth" / "00001_01.jpg").convert("RGB").resize((48, 64), Image.BILINEAR))
    assert np.abs((item["cloth"].permute(1, 2, 0).numpy() + 1) * 127.5 - original).mean() < 8
    # A line without a cloth column pairs the person with the same-named cloth.
    (root / "cloth" / "00002_01.jpg").rename(root / "cloth" / "00002_00.jpg")
    (root / "cloth-mask" / "00002_01.jpg").rename(root / "cloth-mask" / "00002_00.jpg")
    ds = VitonDataset(root, "train", size=(64, 48))
    assert ds.pairs[-1].cloth_name == "00002_00.jpg" and not ds.skipped


def test_paired_mode_keeps_own_garment_when_a_vitonhd_file_is_unpaired(synthetic: Path) -> None:
    """VITON-HD's released test_pairs.txt pairs people with others' garments; paired means their own."""
    (synthetic / "test_pairs.txt").write_text("00004_00.jpg 00005_00.jpg\n00005_00.jpg 00004_00.jpg\n")
    ds = VitonDataset(synthetic, "test", size=(64, 48))
    assert [(p.name, p.cloth_name) for p in ds.pairs] == [("00004_00.jpg", "00004_00.jpg"), ("00005_00.jpg", "00005_00.jpg")]


@pytest.mark.skipif(not TRAIN16.is_dir(), reason="shared/data/vitonhd_train16 not present")
def test_real_vitonhd_samples() -> None:
    ds = VitonDataset(TRAIN16, "train", size=(256, 192))
    assert len(ds) == 12 and not ds.skipped  # paired mode: the persons listed in train_pairs.txt
    item = ds[0]
    assert item["cloth_name"] == item["name"]
    # Real parses: the shirt covers a good part of the person, the agnostic parse has no upper clothes.
    assert 0.05 < item["worn_mask"].mean() < 0.6
    assert item["parse_agnostic"][3].sum() == 0
    assert item["pose"].amax(dim=(1, 2))[[0, 1, 2, 5]].min() > 0.9  # nose, neck and shoulders seen
