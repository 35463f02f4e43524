"""Augment stage: letterboxing, seeded variants shared between person and garment, test pairs untouched."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pipeline.augment import AugmentConfig, PairAugmenter, augment_pairs, letterbox

REPO = Path(__file__).resolve().parents[1]
SMALL = [96, 128]


def marked(width: int, height: int, background: tuple[int, int, int], seed: int) -> np.ndarray:
    """An asymmetric picture: a red block on the left third, some texture elsewhere."""
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = background
    img[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = rng.integers(40, 200, 3)
    img[height // 3 : 2 * height // 3, width // 12 : width // 4] = (230, 20, 20)
    return img


def red_side(img: np.ndarray) -> str:
    red = (img[..., 0] > 180) & (img[..., 1] < 90) & (img[..., 2] < 90)
    xs = np.nonzero(red)[1]
    return "left" if xs.mean() < img.shape[1] / 2 else "right"


def write_pairs(root: Path, n: int, test: tuple[int, ...] = (0,)) -> Path:
    img_dir = root / "data" / "scrape" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    path = root / "pairs.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["pair_id", "source", "product_id", "category", "person_path", "garment_path", "split"])
        for i in range(n):
            Image.fromarray(marked(150, 200, (200, 210, 220), i)).save(img_dir / f"person{i}.jpg", quality=95)
            Image.fromarray(marked(160, 160, (255, 255, 255), 100 + i)).save(img_dir / f"cloth{i}.png")
            w.writerow([f"shop-p{i}-0000000{i}", "shop", f"p{i}", "upper_body", f"data/scrape/images/person{i}.jpg",
                        f"data/scrape/images/cloth{i}.png", "test" if i in test else "train"])
    return path


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_letterbox_pads_without_stretching():
    wide = np.zeros((100, 200, 3), np.uint8)
    wide[:, :] = (10, 200, 30)
    out = letterbox(wide, (96, 128), "white")
    assert out.shape == (128, 96, 3)
    content = np.nonzero((out != 255).any(axis=2))
    h = content[0].max() - content[0].min() + 1
    w = content[1].max() - content[1].min() + 1
    assert (w, h) == (96, 48)  # 2:1 kept
    assert (out[:30] == 255).all() and (out[-30:] == 255).all()
    tall = np.full((300, 100, 3), 120, np.uint8)
    tall[20:280, 10:90] = (0, 0, 255)
    out = letterbox(tall, (96, 128), "border")
    assert tuple(out[64, 2]) == tuple(out[64, -2]) == (120, 120, 120)  # pad takes the rim's colour
    content = np.nonzero((out != 120).any(axis=2))
    assert content[0].max() - content[0].min() + 1 > 100  # 300x100 fills the height: 43x128


def test_shared_flip_mirrors_person_and_garment_together():
    cfg = AugmentConfig.from_dict({"size": SMALL, "variants": 12, "person": [], "garment": [],
                                   "shared": [{"name": "HorizontalFlip", "p": 0.5}]})
    aug = PairAugmenter(cfg)
    person, cloth = marked(150, 200, (200, 210, 220), 1), marked(160, 160, (255, 255, 255), 2)
    sides = []
    for v in range(12):
        p, c = aug.variant(person, cloth, "pair-x", v)
        assert p.shape == c.shape == (128, 96, 3)
        assert red_side(p) == red_side(c)
        sides.append(red_side(p))
    assert sides[0] == "left" and "right" in sides[1:] and "left" in sides[1:]


def test_person_only_jitter_leaves_the_garment_alone():
    cfg = AugmentConfig.from_dict({"size": SMALL, "shared": [], "garment": [],
                                   "person": [{"name": "Affine", "rotate": [20, 20], "p": 1.0}]})
    aug = PairAugmenter(cfg)
    person, cloth = marked(150, 200, (200, 210, 220), 1), marked(160, 160, (255, 255, 255), 2)
    p0, c0 = aug.variant(person, cloth, "pair-y", 0)
    p1, c1 = aug.variant(person, cloth, "pair-y", 1)
    assert np.array_equal(c0, c1)
    assert not np.array_equal(p0, p1)


def test_outputs_are_byte_identical_for_a_seed_and_differ_across_seeds(tmp_path):
    pairs = write_pairs(tmp_path, 3)
    cfg = {"size": SMALL, "variants": 3, "seed": 5}
    augment_pairs(pairs, tmp_path / "a", AugmentConfig.from_dict(cfg), root=tmp_path)
    augment_pairs(pairs, tmp_path / "b", AugmentConfig.from_dict(cfg), root=tmp_path)
    augment_pairs(pairs, tmp_path / "c", AugmentConfig.from_dict({**cfg, "seed": 6}), root=tmp_path)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    augmented = [k for k in a if k.endswith(("_01.jpg", "_02.jpg"))]
    assert augmented and any(a[k] != c[k] for k in augmented)
    assert all(a[k] == c[k] for k in a if k.endswith("_00.jpg"))


def test_adding_a_pair_or_workers_changes_no_other_output(tmp_path):
    pairs = write_pairs(tmp_path, 3)
    augment_pairs(pairs, tmp_path / "three", AugmentConfig.from_dict({"size": SMALL, "variants": 2}), root=tmp_path)
    more = write_pairs(tmp_path, 4)
    augment_pairs(more, tmp_path / "four", AugmentConfig.from_dict({"size": SMALL, "variants": 2, "workers": 2}),
                  root=tmp_path)
    three, four = digest(tmp_path / "three"), digest(tmp_path / "four")
    images = [k for k in three if k.endswith(".jpg")]
    assert all(four[k] == three[k] for k in images)
    assert len([k for k in four if k.endswith(".jpg")]) == len(images) + 4


def test_layout_lists_and_untouched_test_pairs(tmp_path):
    pairs = write_pairs(tmp_path, 3, test=(0,))
    m = augment_pairs(pairs, tmp_path / "out", AugmentConfig.from_dict({"size": SMALL, "variants": 4}),
                      root=tmp_path).to_dict()
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "test" / "image").iterdir()) == ["shop-p0-00000000_00.jpg"]
    assert sorted(p.name for p in (out / "test" / "cloth").iterdir()) == ["shop-p0-00000000_00.jpg"]
    train = (out / "train_pairs.txt").read_text().splitlines()
    assert len(train) == 8 and all(a == b for a, b in (line.split() for line in train))
    for line in train:
        name = line.split()[0]
        assert (out / "train" / "image" / name).is_file() and (out / "train" / "cloth" / name).is_file()
        assert Image.open(out / "train" / "image" / name).size == tuple(SMALL)
    # The test pair is the original, only fitted to size.
    original = np.asarray(Image.open(tmp_path / "data/scrape/images/cloth0.png").convert("RGB"))
    expected = letterbox(original, tuple(SMALL), "white").astype(int)
    got = np.asarray(Image.open(out / "test" / "cloth" / "shop-p0-00000000_00.jpg")).astype(int)
    assert np.abs(got - expected).mean() < 3
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    assert len(rows) == 9 and {r["split"] for r in rows} == {"train", "test"}
    assert m["train_pairs"] == 2 and m["test_pairs"] == 1 and m["augmented_images"] == 6


def test_unreadable_pair_is_skipped_and_counted(tmp_path):
    pairs = write_pairs(tmp_path, 2)
    (tmp_path / "data/scrape/images/person1.jpg").write_bytes(b"not an image")
    m = augment_pairs(pairs, tmp_path / "out", AugmentConfig.from_dict({"size": SMALL, "variants": 2}),
                      root=tmp_path).to_dict()
    assert m["items_out"] == 1 and m["skipped"] == {"unreadable": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"shared": [{"name": "FlipSideways"}]}, "not an albumentations transform"),
        ({"person": [{"name": "Affine", "rotation": 5}]}, "no argument"),
        ({"person": [{"name": "Affine", "scale": "big"}]}, "rejected its arguments"),
        ({"size": [768]}, "width, height"),
        ({"cloth_pad": "grey"}, "cloth_pad"),
        ({"varients": 3}, "unknown augment param"),
    ],
)
def test_bad_params_fail_clearly(params, message):
    with pytest.raises(ValueError, match=message):
        PairAugmenter(AugmentConfig.from_dict(params))


def test_classify_and_augment_stages_run_from_params(tmp_path):
    from tests.catalogue_images import TEE, draw_garment, grace_hopper

    images = tmp_path / "data" / "scrape" / "images"
    images.mkdir(parents=True)
    Image.fromarray(grace_hopper()).save(images / "1111111111111111.jpg")
    Image.fromarray(draw_garment([TEE])).save(images / "2222222222222222.png")
    Image.fromarray(grace_hopper()[:, ::-1]).save(images / "3333333333333333.jpg")
    Image.fromarray(draw_garment([TEE], colour=(160, 30, 30))).save(images / "4444444444444444.png")
    with (tmp_path / "data" / "scrape" / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "product_id", "product_name", "category", "image_index", "path"])
        for pid, idx, stem, ext in [("a", 0, "1111111111111111", "jpg"), ("a", 1, "2222222222222222", "png"),
                                    ("b", 0, "3333333333333333", "jpg"), ("b", 1, "4444444444444444", "png")]:
            w.writerow(["shop", pid, "Jacket", "", idx, f"data/scrape/images/{stem}.{ext}"])
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["augment"].update(size=SMALL, variants=2, workers=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"classify": params["classify"], "augment": params["augment"]}))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VTON_PARAMS": str(tmp_path / "params.yaml")}
    for stage in ("classify", "augment"):
        subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=tmp_path, env=env, check=True,
                       capture_output=True, timeout=300)
    classify = json.loads((tmp_path / "metrics" / "classify.json").read_text())
    augment = json.loads((tmp_path / "metrics" / "augment.json").read_text())
    assert classify["labels"] == {"person": 2, "garment": 2, "rejected": 0}
    assert classify["pairs"] == 2 and classify["train_pairs"] == 1 and classify["test_pairs"] == 1
    assert augment["train_images"] == 2 and augment["test_images"] == 1
    assert len((tmp_path / "data" / "augment" / "train_pairs.txt").read_text().splitlines()) == 2
