"""`vton annotate` end to end on package-shipped photos, with the bad inputs users send."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.cli import main


def _tee(path: Path, colour: tuple[int, int, int]) -> None:
    img = Image.new("RGB", (300, 400), "white")
    ImageDraw.Draw(img).polygon([(90, 60), (210, 60), (280, 130), (240, 160), (220, 140), (220, 340), (80, 340),
                                 (80, 140), (60, 160), (20, 130)], fill=colour)
    img.save(path)


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("annotate")
    persons, garments, out = root / "persons", root / "garments", root / "out"
    persons.mkdir()
    garments.mkdir()
    Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).save(persons / "grace.jpg")
    from skimage import data

    Image.fromarray(data.astronaut()).save(persons / "astronaut.png")
    (persons / "empty.jpg").write_bytes(b"")
    (persons / "notes.jpg").write_text("this is not a picture\n")
    yy, xx = np.mgrid[0:400, 0:300]
    Image.fromarray(np.stack([xx * 255 // 300, yy * 255 // 400, np.full_like(xx, 120)], -1).astype(np.uint8)).save(persons / "scenery.png")
    _tee(garments / "red_tee.png", (190, 30, 40))
    _tee(garments / "blue_tee.jpg", (30, 60, 170))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (400, 300, 3), dtype=np.uint8)).save(garments / "busy.png")
    (root / "pairs.txt").write_text(
        "grace.jpg red_tee.png\nastronaut.png blue_tee.jpg upper_body\nscenery.png red_tee.png\n"
        "empty.jpg red_tee.png\nnotes.jpg red_tee.png\ngrace.jpg busy.png\nghost.jpg red_tee.png\n")
    # The offline parser: what a checkout's data/train_parse or the shipped parser would do is tested apart.
    argv = ["annotate", "--persons", str(persons), "--garments", str(garments), "--pairs", str(root / "pairs.txt"),
            "--out", str(out), "--size", "512", "384", "--offline-parser"]
    rc = main(argv)
    with (out / "failures.csv").open() as fh:
        failures = {row["file"]: row for row in csv.DictReader(fh)}
    return {"rc": rc, "out": out, "failures": failures, "argv": argv}


def test_good_photos_give_a_complete_layout(annotated: dict) -> None:
    assert annotated["rc"] == 0
    base = annotated["out"] / "test"
    for stem in ("grace", "astronaut"):
        for rel in (f"image/{stem}.jpg", f"image-parse-v3/{stem}.png", f"openpose_json/{stem}_keypoints.json",
                    f"openpose_img/{stem}_rendered.png", f"agnostic-v3.2/{stem}.jpg", f"agnostic-mask/{stem}_mask.png",
                    f"image-parse-agnostic-v3.2/{stem}.png"):
            assert (base / rel).is_file(), rel
    assert {p.name for p in (base / "cloth-mask").iterdir()} == {"red_tee.jpg", "blue_tee.jpg"}
    assert {p.name for p in (base / "image").iterdir()} == {"grace.jpg", "astronaut.jpg"}  # failures leave nothing
    assert Image.open(base / "image" / "grace.jpg").size == (384, 512)
    lines = (annotated["out"] / "test_pairs.txt").read_text().splitlines()
    assert lines == ["grace.jpg red_tee.jpg upper_body", "astronaut.jpg blue_tee.jpg upper_body"]


def test_each_bad_input_is_listed_with_its_reason(annotated: dict) -> None:
    f = annotated["failures"]
    assert f["empty.jpg"]["reason"] == "empty_file" and f["empty.jpg"]["step"] == "image"
    assert f["notes.jpg"]["reason"] == "not_an_image"
    assert f["scenery.png"]["step"] in ("parse", "pose")
    assert f["busy.png"]["step"] == "cloth-mask" and f["scenery.png"]["file"] == "scenery.png"
    assert f["ghost.jpg"]["reason"] == "missing_file"
    assert "grace.jpg" not in f and "astronaut.jpg" not in f


def test_validate_accepts_the_result(annotated: dict) -> None:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "validate", str(annotated["out"])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_second_run_skips_what_is_done(annotated: dict) -> None:
    from pipeline.annotate.folder import AnnotateConfig, annotate_folder

    a = annotated["argv"]
    out = annotated["out"]
    before = (out / "test" / "agnostic-v3.2" / "grace.jpg").stat().st_mtime_ns
    report = annotate_folder(AnnotateConfig(persons=Path(a[2]), garments=Path(a[4]), pairs=Path(a[6]), out=out,
                                            size=(512, 384), progress=False))
    assert report.written.get("parse", 0) == 0 and report.written.get("agnostic", 0) == 0
    assert report.reused["agnostic"] == 2 and report.pairs == 2
    assert (out / "test" / "agnostic-v3.2" / "grace.jpg").stat().st_mtime_ns == before
