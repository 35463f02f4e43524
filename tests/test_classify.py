"""Classify stage: person / garment / rejected on drawn garments and real photos, pairs and split."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.classify import (
    ClassifyConfig,
    ImageClassifier,
    ImageRecord,
    assign_splits,
    build_pairs,
    classify_manifest,
    split_products,
)
from pipeline.classify.category import category_from_text
from pipeline.classify.config import DEFAULT_KEYWORDS
from tests.catalogue_images import DRESS, TEE, TROUSERS, astronaut, draw_garment, grace_hopper, shifted

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def classifier():
    with ImageClassifier(ClassifyConfig()) as clf:
        yield clf


@pytest.mark.parametrize(
    ("poly", "category"), [(TEE, "upper_body"), (TROUSERS, "lower_body"), (DRESS, "dresses")]
)
def test_drawn_garment_is_a_garment_with_the_category_of_its_shape(classifier, poly, category):
    verdict = classifier.classify(draw_garment([poly]))
    assert verdict.label == "garment", verdict
    assert verdict.category == category
    assert verdict.category_source == "silhouette"


# A camisole: two thin straps over a wide, flaring body, the outline of a skirt's waistband
# but for the empty span between the straps; and a skirt, whose waistband is solid.
CAMISOLE = [(200, 100), (215, 100), (215, 330), (385, 330), (385, 100), (400, 100), (400, 330), (480, 360),
            (470, 470), (440, 450), (460, 600), (140, 600), (160, 450), (130, 470), (120, 360), (200, 330)]
SKIRT = [(220, 150), (380, 150), (385, 200), (470, 560), (130, 560), (215, 200)]


@pytest.mark.parametrize(("poly", "category"), [(CAMISOLE, "upper_body"), (SKIRT, "lower_body")])
def test_straps_are_no_waistband(classifier, poly, category):
    verdict = classifier.classify(draw_garment([poly]))
    assert verdict.label == "garment", verdict
    assert verdict.category == category, verdict.scores
    assert (verdict.scores["shape_top_fill"] < 0.5) == (poly is CAMISOLE)


def test_product_words_beat_the_silhouette(classifier):
    verdict = classifier.classify(draw_garment([TEE]), ("", "Summer maxi dress"))
    assert (verdict.label, verdict.category, verdict.category_source) == ("garment", "dresses", "text")


def test_two_objects_are_rejected(classifier):
    img = draw_garment([shifted(TEE, -40, 150, 0.5), shifted(TEE, 270, 150, 0.5)])
    verdict = classifier.classify(img)
    assert (verdict.label, verdict.reason) == ("rejected", "several_objects")
    assert verdict.scores["objects"] == 2


def test_busy_background_is_rejected(classifier):
    noise = np.random.default_rng(1).integers(0, 256, (800, 600, 3), dtype=np.uint8)
    verdict = classifier.classify(draw_garment([TEE], background=noise))
    assert (verdict.label, verdict.reason) == ("rejected", "no_person_busy_background")


def test_blank_picture_is_rejected(classifier):
    verdict = classifier.classify(np.full((400, 300, 3), 250, np.uint8))
    assert (verdict.label, verdict.reason) == ("rejected", "no_object")


@pytest.mark.parametrize("photo", [grace_hopper, astronaut])
def test_waist_up_photo_is_a_person(classifier, photo):
    verdict = classifier.classify(photo())
    assert verdict.label == "person", verdict
    assert verdict.scores["shoulder_visibility"] >= 0.5
    assert verdict.scores["people"] == 1


def test_strict_hip_rule_rejects_waist_up_crop():
    cfg = ClassifyConfig.from_dict({"person": {"max_hip_y": 1.0, "min_hip_visibility": 0.5}})
    with ImageClassifier(cfg) as clf:
        verdict = clf.classify(grace_hopper())
    assert (verdict.label, verdict.reason) == ("rejected", "person_without_torso")
    assert verdict.scores["hip_y"] > 1.0


def test_two_people_measures_the_largest(classifier):
    small = cv2.resize(grace_hopper(), (256, 300), interpolation=cv2.INTER_AREA)
    big = cv2.resize(astronaut(), (600, 600), interpolation=cv2.INTER_AREA)
    canvas = np.full((600, 900, 3), 230, np.uint8)
    canvas[:, :600] = big
    canvas[300:, 630:886] = small
    verdict = classifier.classify(canvas)
    assert verdict.label == "person"
    assert verdict.scores["people"] == 2
    assert verdict.scores["person_selected"] == "largest_face"


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (("Shirt dresses", ""), "dresses"),
        (("", "Oxford dress shirt"), "upper_body"),
        (("", "Slim JEANS"), "lower_body"),
        (("lower_body", "Blue top"), "lower_body"),
        (("Hats", "Wool beanie"), None),
        (("", "Pleated skirt"), "lower_body"),
        (("", "Hooded sweatshirt"), "upper_body"),
    ],
)
def test_category_from_words(texts, expected):
    assert category_from_text(texts, DEFAULT_KEYWORDS) == expected


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown classify.person param"):
        ClassifyConfig.from_dict({"person": {"hip_rule": 1}})
    with pytest.raises(ValueError, match="unknown categories"):
        ClassifyConfig.from_dict({"category_keywords": {"hats": ["cap"]}})


def test_missing_pose_model_is_a_clear_error():
    # Only the complexity-1 model ships with mediapipe; the others would be downloaded.
    from pipeline.classify.person import pose_model_path

    if pose_model_path(2).is_file():
        pytest.skip("heavy pose model is installed here")
    with pytest.raises(FileNotFoundError, match="model_complexity"):
        ImageClassifier(ClassifyConfig.from_dict({"person": {"model_complexity": 2}}))


def _records(n_products: int) -> list[ImageRecord]:
    recs = []
    for i in range(n_products):
        for j, label in enumerate(("person", "person", "garment", "garment")):
            recs.append(ImageRecord(f"data/scrape/images/{i:04d}{j}abcdef0123.jpg", "Shop A", f"SKU/{i}", j, label, "upper_body"))
    return recs


def test_pairs_use_the_primary_garment_and_safe_unique_ids():
    pairs = build_pairs(_records(3))
    assert len(pairs) == 6  # two persons per product, each with the product's first garment
    assert len({p.pair_id for p in pairs}) == 6
    assert all(re.fullmatch(r"[a-z0-9-]+", p.pair_id) for p in pairs)
    assert all(p.garment_path.endswith("2abcdef0123.jpg") for p in pairs)


def test_split_keeps_products_whole_and_is_deterministic():
    pairs = build_pairs(_records(40))
    a = assign_splits(pairs, 0.25, seed=7)
    b = assign_splits(list(reversed(pairs)), 0.25, seed=7)
    assert {p.pair_id: p.split for p in a} == {p.pair_id: p.split for p in b}
    by_product: dict[str, set[str]] = {}
    for p in a:
        by_product.setdefault(p.product_id, set()).add(p.split)
    assert all(len(s) == 1 for s in by_product.values())
    n_test = sum(s == {"test"} for s in by_product.values())
    assert 3 <= n_test <= 20
    c = assign_splits(pairs, 0.25, seed=8)
    assert {p.pair_id: p.split for p in a} != {p.pair_id: p.split for p in c}


def test_split_has_a_test_product_when_there_are_two_and_is_stable_when_growing():
    two = split_products([("s", "a"), ("s", "b")], 0.01, seed=1)
    assert sorted(two.values()) == ["test", "train"]
    keys = [("s", str(i)) for i in range(50)]
    small = split_products(keys, 0.3, seed=3)
    large = split_products(keys + [("s", str(i)) for i in range(50, 80)], 0.3, seed=3)
    assert all(large[k] == v for k, v in small.items())


def test_classify_manifest_end_to_end(tmp_path):
    images = tmp_path / "data" / "scrape" / "images"
    images.mkdir(parents=True)
    Image.fromarray(draw_garment([TEE])).save(images / "aaaa000000000001.png")
    Image.fromarray(grace_hopper()).save(images / "bbbb000000000002.jpg")
    Image.fromarray(astronaut()).save(images / "cccc000000000003.jpg")
    Image.fromarray(draw_garment([TROUSERS])).save(images / "dddd000000000004.png")
    (images / "eeee000000000005.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    rows = [
        ("shop", "p1", "Navy tee", "Tops", 0, "aaaa000000000001.png"),
        ("shop", "p1", "Navy tee", "Tops", 1, "bbbb000000000002.jpg"),
        ("shop", "p2", "Chinos", "", 0, "cccc000000000003.jpg"),
        ("shop", "p2", "Chinos", "", 1, "dddd000000000004.png"),
        ("shop", "p3", "Broken", "", 0, "eeee000000000005.jpg"),
    ]
    manifest = tmp_path / "data" / "scrape" / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "product_id", "product_name", "category", "image_index", "path"])
        for src, pid, name, cat, idx, file in rows:
            w.writerow([src, pid, name, cat, idx, f"data/scrape/images/{file}"])
    out = tmp_path / "out"
    metrics = classify_manifest(manifest, out, ClassifyConfig(), root=tmp_path).to_dict()

    got = list(csv.DictReader((out / "images.csv").open()))
    assert [r["label"] for r in got] == ["garment", "person", "person", "garment", "rejected"]
    assert got[-1]["reason"] == "unreadable" and got[-1]["detail"]
    assert got[0]["category"] == "upper_body" and got[3]["category"] == "lower_body"
    pairs = list(csv.DictReader((out / "pairs.csv").open()))
    assert [(p["product_id"], p["category"]) for p in pairs] == [("p1", "upper_body"), ("p2", "lower_body")]
    assert sorted(p["split"] for p in pairs) == ["test", "train"]
    assert metrics["labels"] == {"person": 2, "garment": 2, "rejected": 1}
    assert metrics["rejected_by_reason"] == {"unreadable": 1}
    assert metrics["pairs"] == 2 and metrics["items_in"] == 5
    json.dumps(metrics)


@pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason="shared real samples not present")
def test_real_catalogue_photos(classifier):
    rows = list(csv.DictReader((SHARED / "manifest.csv").open()))
    persons = [r for r in rows if r["file"].startswith("persons/")][::4]
    garments = [r for r in rows if r["file"].startswith("garments/")][::4]
    for r in persons:
        verdict = classifier.classify(np.asarray(Image.open(SHARED / r["file"]).convert("RGB")))
        assert verdict.label == "person", r["file"]
    labels = [classifier.classify(np.asarray(Image.open(SHARED / r["file"]).convert("RGB"))).label for r in garments]
    assert labels.count("garment") >= len(garments) - 1


def test_demo_shop_images(classifier):
    demoshop = pytest.importorskip("pipeline.demoshop")
    if not hasattr(demoshop, "build_catalog"):
        pytest.skip("demo shop has no catalogue builder")
    import io

    catalog = demoshop.build_catalog(demoshop.DemoShopConfig(products=4, traps=False))
    seen = {"person": 0, "garment": 0}
    for product in catalog.products:
        for url in product.images:
            rgb = np.asarray(Image.open(io.BytesIO(catalog.images[url])).convert("RGB"))
            verdict = classifier.classify(rgb, (product.category, product.name))
            expected = "garment" if url.endswith("-garment.jpg") else "person"
            assert verdict.label == expected, (url, verdict)
            assert verdict.category == "upper_body"
            if expected == "garment":
                assert classifier.classify(rgb).category == "upper_body"  # from the silhouette alone
            seen[expected] += 1
    assert seen == {"person": 4, "garment": 4}


def test_white_garment_on_white_is_a_garment(classifier):
    """A white tee on a white sweep: found by the cloth-mask model's hysteresis, not refused as too small."""
    img = draw_garment([TEE], colour=(246, 246, 244))
    cv2.putText(img, "LOGO", (230, 400), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (30, 30, 30), 4)  # a print on the chest
    verdict = classifier.classify(img)
    assert verdict.label == "garment", verdict
    assert verdict.scores["foreground_fraction"] > 0.15


def test_garment_filling_the_frame_with_a_busy_print_is_a_garment(classifier):
    """Sleeves touching the frame and a print everywhere inside: the backdrop is still plain around it."""
    wide = shifted(TEE, -100, -60, 1.33)  # sleeves run off both sides
    img = draw_garment([wide], colour=(120, 120, 125))
    rng = np.random.default_rng(3)
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.array(wide, np.int32)], 1)
    for _ in range(60):  # a cartoon-like print of coloured blobs
        x, y = int(rng.integers(150, 450)), int(rng.integers(200, 750))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, (x, y), int(rng.integers(8, 30)), colour, -1)
    img[mask == 0] = 255
    verdict = classifier.classify(img)
    assert verdict.label == "garment", verdict


def test_dark_body_shaped_garment_is_no_person(classifier):
    """A black bodysuit laid flat: a body's outline, but no face and no skin, so a garment."""
    body = [(250, 90), (350, 90), (460, 160), (520, 420), (470, 430), (420, 230), (410, 470), (430, 760),
            (330, 760), (300, 520), (270, 760), (170, 760), (190, 470), (180, 230), (130, 430), (80, 420), (140, 160)]
    verdict = classifier.classify(draw_garment([body], colour=(18, 18, 22)))
    assert verdict.label == "garment", verdict


def test_vton_classify_writes_one_row_per_picture(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "scraped"
    folder.mkdir()
    Image.fromarray(draw_garment([TROUSERS])).save(folder / "b_trousers.png")
    Image.fromarray(grace_hopper()).save(folder / "a_person.jpg")
    (folder / "c_notes.jpg").write_text("not a picture")
    (folder / "readme.txt").write_text("ignored: not a picture suffix")
    out = tmp_path / "labels.csv"
    vton = Path(sys.executable).parent / "vton"
    done = subprocess.run([str(vton), "classify", str(folder), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 pictures: 1 garment, 1 person, 1 rejected" in done.stdout
    with out.open() as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"a_person.jpg", "b_trousers.png", "c_notes.jpg"}
    assert rows["a_person.jpg"]["label"] == "person"
    assert (rows["b_trousers.png"]["label"], rows["b_trousers.png"]["category"]) == ("garment", "lower_body")
    assert rows["c_notes.jpg"]["label"] == "rejected" and rows["c_notes.jpg"]["reason"].startswith("unreadable")
    assert "pose_found=" in rows["a_person.jpg"]["scores"]
    missing = subprocess.run([str(vton), "classify", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 2 and "is not a folder" in missing.stderr
