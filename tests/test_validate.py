"""Data-set validator and assembly: a tiny valid VITON-HD-layout folder, broken one way at a time."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from pipeline.dataset import validate_command
from pipeline.dataset.assemble import StageRoots, assemble_dataset
from pipeline.dataset.layout import FOLDERS, REQUIRED_FOLDERS, file_path, locate_splits, read_pairs
from pipeline.dataset.validate import validate_dataset
from tests.synthetic_viton import write_synthetic_viton

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    return write_synthetic_viton(tmp_path / "ds", n_train=2, n_test=1, size=(64, 48))


def _cli(root: Path, *extra: str) -> int:
    parser = argparse.ArgumentParser()
    validate_command.add_arguments(parser)
    return validate_command.run(parser.parse_args([str(root), *extra]))


def test_valid_dataset_passes(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = validate_dataset(dataset, progress=False)
    assert report.ok, report.format()
    assert report.form == "nested"
    assert report.pairs == {"train": 2, "test": 1}
    assert report.coverage["train"]["agnostic-mask"] == (2, 2)
    assert _cli(dataset) == 0
    assert "OK" in capsys.readouterr().out


def _first(root: Path, folder: str) -> Path:
    return sorted((root / "train" / folder).iterdir())[0]


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:100])


def _resize(p: Path) -> None:
    Image.open(p).convert("RGB").resize((40, 40)).save(p)


def _bad_label(p: Path) -> None:
    arr = np.array(Image.open(p))
    arr[0, 0] = 25
    img = Image.fromarray(arr, mode="P")
    img.putpalette(Image.open(p).getpalette())
    img.save(p)


def _rgb_parse(p: Path) -> None:
    Image.open(p).convert("RGB").save(p)


def _bad_json(p: Path) -> None:
    p.write_text("{not json")


def _few_keypoints(p: Path) -> None:
    doc = json.loads(p.read_text())
    doc["people"][0]["pose_keypoints_2d"] = [1.0] * 30
    p.write_text(json.dumps(doc))


def _grey_mask(p: Path) -> None:
    Image.new("L", Image.open(p).size, 128).save(p, format="JPEG")


BREAKAGES: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("agnostic-v3.2", "delete", lambda p: p.unlink(), "file missing"),
    ("image", "truncate", _truncate, "unreadable"),
    ("agnostic-v3.2", "resize", _resize, "does not match the image"),
    ("image-parse-v3", "label", _bad_label, "out of range"),
    ("image-parse-agnostic-v3.2", "rgb", _rgb_parse, "single-channel"),
    ("openpose_json", "json", _bad_json, "unreadable JSON"),
    ("openpose_json", "count", _few_keypoints, "expected 75"),
    ("cloth-mask", "grey", _grey_mask, "not a black/white mask"),
]


@pytest.mark.parametrize("folder,how,breaker,message", BREAKAGES, ids=[f"{b[0]}-{b[1]}" for b in BREAKAGES])
def test_each_breakage_is_named(dataset: Path, folder: str, how: str, breaker: Callable[[Path], None], message: str) -> None:
    target = _first(dataset, folder)
    breaker(target)
    report = validate_dataset(dataset, progress=False)
    assert not report.ok
    hits = [p for p in report.problems if message in p.message]
    assert hits, report.format()
    assert any(p.folder == folder and p.name == target.name for p in hits), report.format()
    assert _cli(dataset) == 1


def test_unresolvable_pair_and_missing_folder(dataset: Path) -> None:
    with (dataset / "train_pairs.txt").open("a") as fh:
        fh.write("00000_00.jpg nosuch_00.jpg\n")
    shutil.rmtree(dataset / "test" / "openpose_img")
    report = validate_dataset(dataset, progress=False)
    text = report.format()
    assert "names a missing garment" in text
    assert "test/openpose_img: folder missing" in text
    # A folder a release lacks can be allowed explicitly.
    shutil.rmtree(dataset / "train" / "agnostic-mask")
    shutil.rmtree(dataset / "test" / "agnostic-mask")
    assert any("agnostic-mask" in str(p) for p in validate_dataset(dataset, progress=False).problems)
    allowed = validate_dataset(dataset, required=tuple(f for f in REQUIRED_FOLDERS if f != "agnostic-mask"), progress=False)
    assert not any("agnostic-mask" in str(p) for p in allowed.problems)


def test_training_folder_warns_about_folders_training_never_reads(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(dataset / "train" / "openpose_img")
    (dataset / "test" / "agnostic-mask" / "00002_00_mask.png").unlink()
    assert _cli(dataset) == 1
    capsys.readouterr()
    assert _cli(dataset, "--training") == 0
    out = capsys.readouterr().out
    assert "2 warning(s)" in out and "train/openpose_img: folder missing" in out
    assert "test/agnostic-mask/00002_00_mask.png: file missing" in out and "OK" in out
    # A folder training reads is still an error.
    (dataset / "train" / "cloth-mask" / "00000_00.jpg").unlink()
    assert _cli(dataset, "--training") == 1


def test_png_cloth_masks_count_as_the_reader_accepts_them(dataset: Path) -> None:
    for split in ("train", "test"):
        for p in (dataset / split / "cloth-mask").iterdir():
            Image.open(p).convert("L").point(lambda v: 255 if v >= 128 else 0).save(p.with_suffix(".png"))
            p.unlink()
    report = validate_dataset(dataset, progress=False)
    assert report.ok, report.format()
    assert report.coverage["train"]["cloth-mask"] == (2, 2)


def test_not_a_dataset(tmp_path: Path) -> None:
    report = validate_dataset(tmp_path, progress=False)
    assert not report.ok and "not in the VITON-HD layout" in report.format()


def test_flat_form_is_read(tmp_path: Path) -> None:
    root = write_synthetic_viton(tmp_path / "flat", n_train=2, size=(64, 48), nested=False)
    form, splits = locate_splits(root)
    assert form == "flat" and [s.split for s in splits] == ["train"]
    assert validate_dataset(root, progress=False).ok


@pytest.mark.skipif(not (SHARED / "vitonhd_train16").is_dir(), reason="shared VITON-HD samples absent")
def test_shared_vitonhd_samples_validate() -> None:
    report = validate_dataset(SHARED / "vitonhd_train16", progress=False)
    assert report.ok, report.format()
    assert report.form == "flat"
    assert report.coverage["train"]["image"] == (16, 16)
    assert report.pairs["train"] == 12


# --- assembly ------------------------------------------------------------------------------------


def _stage_outputs(dataset: Path, roots: StageRoots) -> None:
    """Spread a finished data set back into the per-stage folders the dataset stage reads."""
    for split in ("train", "test"):
        for folder in REQUIRED_FOLDERS:
            for src in (dataset / split / folder).iterdir():
                dst = roots.root_for(folder) / split / folder / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        shutil.copy2(dataset / f"{split}_pairs.txt", roots.augment / f"{split}_pairs.txt")
    (roots.augment / "pairs.csv").write_text(
        "name,split,pair_id,variant,category\n00000_00.jpg,train,a,0,upper_body\n00001_00.jpg,train,b,0,upper_body\n"
    )


def test_assembly_links_files_and_drops_incomplete_pairs(dataset: Path, tmp_path: Path) -> None:
    roots = StageRoots(*(tmp_path / "data" / s for s in ("augment", "parse", "pose", "agnostic")))
    _stage_outputs(dataset, roots)
    # The pose stage skipped one person: its pair must be dropped, not shipped with a hole.
    file_path(roots.pose / "train", "openpose_json", "00001_00").unlink()
    out = tmp_path / "data" / "dataset"
    report = assemble_dataset(roots, out, progress=False)
    assert report.dropped_incomplete_pairs == 1
    assert report.missing_by_folder == {"openpose_json": 1}
    assert report.pairs_out == {"train": 1, "test": 1}
    assert read_pairs(out / "train_pairs.txt") == [("00000_00.jpg", "00000_00.jpg")]
    assert not file_path(out / "train", "image", "00001_00").exists()
    linked = file_path(out / "train", "image", "00000_00")
    assert linked.stat().st_nlink >= 2 and report.linked == 2 * len(REQUIRED_FOLDERS) and report.copied == 0
    assert "00001_00.jpg" not in (out / "pairs.csv").read_text()
    assert validate_dataset(out, progress=False).ok
    assert all((out / "train" / f).is_dir() for f in FOLDERS if f in REQUIRED_FOLDERS)
    # Rebuilding replaces the folder as a whole.
    report2 = assemble_dataset(roots, out, progress=False)
    assert report2.pairs_out == report.pairs_out
    assert not any(p.name.startswith(".dataset.") for p in out.parent.iterdir())
