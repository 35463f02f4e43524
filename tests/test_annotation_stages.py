"""parse -> pose -> agnostic -> dataset on a few real photos, run as the DVC stages run them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw, ImageOps

from pipeline.dataset.layout import read_pairs
from pipeline.dataset.validate import validate_dataset

SIZE = (384, 512)  # width, height of the data set in this test


def _letterbox(img: Image.Image) -> Image.Image:
    """Fit into SIZE keeping the aspect, padding with the edge colour (as the augment stage does)."""
    fitted = ImageOps.contain(img.convert("RGB"), SIZE)
    edge = np.asarray(fitted)[[0, -1]].reshape(-1, 3)
    canvas = Image.new("RGB", SIZE, tuple(int(v) for v in np.median(edge, axis=0)))
    canvas.paste(fitted, ((SIZE[0] - fitted.width) // 2, (SIZE[1] - fitted.height) // 2))
    return canvas


def _garment(colour: tuple[int, int, int]) -> Image.Image:
    w, h = SIZE
    img = Image.new("RGB", SIZE, (255, 255, 255))
    ImageDraw.Draw(img).polygon(
        [(0.3 * w, 0.15 * h), (0.7 * w, 0.15 * h), (0.92 * w, 0.32 * h), (0.8 * w, 0.42 * h), (0.72 * w, 0.36 * h),
         (0.72 * w, 0.85 * h), (0.28 * w, 0.85 * h), (0.28 * w, 0.36 * h), (0.2 * w, 0.42 * h), (0.08 * w, 0.32 * h)],
        fill=colour,
    )
    return img


def _photos() -> dict[str, Image.Image]:
    import matplotlib.cbook
    import skimage.data

    hopper = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {
        "hopper": hopper,
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "hopper_grey": ImageOps.grayscale(hopper),
        "cat": Image.fromarray(skimage.data.chelsea()),  # nobody to annotate
    }


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the four stages once in a scratch project; return its root."""
    root = tmp_path_factory.mktemp("project")
    split_of = {"hopper": "train", "astronaut": "train", "hopper_grey": "test", "cat": "test"}
    colours = [(200, 40, 40), (40, 90, 160), (30, 140, 60), (120, 60, 150)]
    pairs: dict[str, list[str]] = {"train": [], "test": []}
    for (name, photo), colour in zip(_photos().items(), colours):
        split = split_of[name]
        stem = f"{name}_00"
        for folder, img in (("image", _letterbox(photo)), ("cloth", _garment(colour))):
            path = root / "data" / "augment" / split / folder / f"{stem}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path, quality=95)
        pairs[split].append(f"{stem}.jpg {stem}.jpg\n")
    for split, lines in pairs.items():
        (root / "data" / "augment" / f"{split}_pairs.txt").write_text("".join(lines))
    params = {
        "parse": {"workers": 1, "backend": "mediapipe"},
        "pose": {"workers": 2},  # exercises the spawned worker pool
        "agnostic": {"workers": 1, "cloth_mask": {"min_area_fraction": 0.05}},
        "dataset": {"validate": True, "workers": 2},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))

    import stages.agnostic
    import stages.dataset
    import stages.parse
    import stages.pose

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("VTON_PARAMS", str(root / "params.yaml"))
        for stage in (stages.parse, stages.pose, stages.agnostic, stages.dataset):
            stage.main()
    return root


def _metrics(root: Path, stage: str) -> dict:
    return json.loads((root / "metrics" / f"{stage}.json").read_text())


def test_every_image_is_written_or_counted(chain: Path) -> None:
    for stage, outputs in (
        ("parse", ["image-parse-v3/{}.png"]),
        ("pose", ["openpose_json/{}_keypoints.json", "openpose_img/{}_rendered.png"]),
        ("agnostic", ["agnostic-v3.2/{}.jpg", "agnostic-mask/{}_mask.png", "image-parse-agnostic-v3.2/{}.png"]),
    ):
        m = _metrics(chain, stage)
        assert m["items_in"] == 4
        assert m["items_out"] + m["skipped_total"] == m["items_in"], m
        written = 0
        for split in ("train", "test"):
            for image in (chain / "data" / "augment" / split / "image").iterdir():
                found = [(chain / "data" / stage / split / pattern.format(image.stem)).is_file() for pattern in outputs]
                assert len(set(found)) == 1, f"{stage} wrote only some files of {image.name}"
                written += found[0]
        assert written == m["items_out"]


def test_real_people_are_annotated_and_the_cat_is_not(chain: Path) -> None:
    for stage in ("parse", "pose", "agnostic"):
        assert _metrics(chain, stage)["items_out"] >= 2, stage
    assert _metrics(chain, "pose")["skipped_total"] >= 1  # the cat
    assert _metrics(chain, "agnostic")["cloth_mask"]["items_out"] == 4
    doc = json.loads((chain / "data/pose/train/openpose_json/astronaut_00_keypoints.json").read_text())
    body = np.asarray(doc["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    assert body[[2, 5], 2].min() > 0  # both shoulders found
    parse = np.asarray(Image.open(chain / "data/parse/train/image-parse-v3/astronaut_00.png"))
    assert parse.shape == (SIZE[1], SIZE[0]) and parse.max() < 20 and (parse == 13).any()
    grey_flag = _metrics(chain, "parse").get("flags", {}).get("grayscale_input", 0)
    assert grey_flag == 1


def test_dataset_is_complete_and_valid(chain: Path) -> None:
    m = _metrics(chain, "dataset")
    kept = sum(m["pairs_out"].values())
    assert kept >= 2
    assert kept + m["dropped_incomplete_pairs"] == 4
    assert m["dropped_incomplete_pairs"] >= 1  # the cat's pair: never a pair with a hole
    dataset = chain / "data" / "dataset"
    names = [p for split in m["pairs_out"] if m["pairs_out"][split] for p, _ in read_pairs(dataset / f"{split}_pairs.txt")]
    assert "cat_00.jpg" not in names and "astronaut_00.jpg" in names
    report = validate_dataset(dataset, progress=False)
    assert report.ok, report.format()


def test_pose_stage_without_parse_maps_stops_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hip refinement on and no data/parse: a one-sentence error, not silently unrefined hips."""
    import stages.pose

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"pose": {"workers": 1, "hem_pull_down": 0.7}}))
    monkeypatch.setenv("VTON_PARAMS", str(tmp_path / "params.yaml"))
    with pytest.raises(SystemExit, match="pose.hem_pull_down"):
        stages.pose.main()
    assert not (tmp_path / "data" / "pose").exists()
