"""Inference engine and the ``vton tryon`` / ``vton export-onnx`` commands, on tiny models built here.

The models get random weights on purpose (nothing here judges try-on quality): the tests
check the plumbing from raw pictures to an output of the person picture's size.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from pipeline.augment.letterbox import letterbox
from pipeline.cli import main
from pipeline.infer.engine import TryOnEngine, _map_back
from pipeline.infer.models import ModelNotFound, load_models
from pipeline.infer.types import EngineConfig, TryOnError
from pipeline.train.inputs import PERSON_CHANNELS
from tests.train_helpers import write_random_bundle

SIZE = (256, 192)


def _grace() -> Path:
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def _garment(path: Path) -> Path:
    """A red T-shirt shape on white, as a shop would photograph it."""
    img = Image.new("RGB", (300, 400), "white")
    d = ImageDraw.Draw(img)
    d.polygon([(90, 60), (210, 60), (280, 130), (240, 160), (220, 140), (220, 340), (80, 340), (80, 140), (60, 160), (20, 130)],
              fill=(190, 30, 40))
    img.save(path)
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GMM + TOM with random weights, made explicitly for these tests, saved as training saves them."""
    root = tmp_path_factory.mktemp("bundle")
    return write_random_bundle(root, SIZE)


@pytest.fixture(scope="module")
def engine(bundle: Path):
    with TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")) as eng:
        yield eng


@pytest.fixture(scope="module")
def garment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _garment(tmp_path_factory.mktemp("garment") / "tee.png")


def test_cli_single_pair_keeps_the_person_size(bundle: Path, garment: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    rc = main(["tryon", "--person", str(_grace()), "--garment", str(garment), "--output", str(out),
               "--model", str(bundle), "--device", "cpu", "--save-warped"])
    assert rc == 0
    person = Image.open(_grace())
    result = Image.open(out)
    assert result.size == person.size
    assert Image.open(tmp_path / "out_mask.png").size == person.size
    # Paste-back keeps the input outside the garment area: the top corners are the photo's own.
    a, b = np.asarray(result.convert("RGB"), np.int16), np.asarray(person.convert("RGB"), np.int16)
    assert np.abs(a[:40, :40] - b[:40, :40]).max() <= 1
    assert np.abs(a - b).mean() > 1  # ... and the garment area was redrawn


def test_pixels_outside_the_tryon_region_are_the_photos_own(engine: TryOnEngine, garment: Path) -> None:
    """Repaint at full resolution: face, background and lower body come from the photo, untouched."""
    person = Image.open(_grace()).convert("RGB")
    pair = engine.prepare(person, Image.open(garment))
    res = engine.finish(pair, engine.run_models(pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)).item(0))
    w, h = person.size
    region = _map_back(pair.keep_mask.astype(np.uint8) * 255, pair.annotate_size, (w, h), cv2.INTER_NEAREST) > 0
    assert 0.02 < region.mean() < 0.8
    grow = int(0.05 * h) * 2 + 1  # well past the seam
    near = cv2.dilate(region.astype(np.uint8), np.ones((grow, grow), np.uint8)) > 0
    a, b = np.asarray(res.image, np.int16), np.asarray(person, np.int16)
    assert (~near).mean() > 0.2
    assert np.array_equal(a[~near], b[~near])
    assert np.abs(a[region] - b[region]).mean() > 1  # the region itself was redrawn


def test_result_fields_and_letterbox_undone(engine: TryOnEngine, garment: Path) -> None:
    # A wide person picture: the model sees it letterboxed; the output must come back unpadded.
    person = Image.open(_grace()).convert("RGB")
    wide = Image.new("RGB", (person.width * 2, person.height), person.getpixel((0, 0)))
    wide.paste(person, (person.width // 2, 0))
    res = engine.tryon(wide, Image.open(garment))
    assert res.image.size == res.mask.size == res.warped.size == wide.size
    assert res.mask.mode == "L" and np.asarray(res.mask).max() > 0
    assert set(res.timings) == {"annotate", "gmm", "tom", "compose", "total"} and res.timings["total"] > 0
    assert res.metadata["size"] == list(SIZE) and res.metadata["backend"] == "torch"
    # The letterbox is undone: letterboxing the input to the model size and mapping it back
    # with the engine's own geometry gives the input again (up to the resolution lost).
    rgb = np.asarray(wide)
    boxed = letterbox(rgb, (SIZE[1], SIZE[0]), "border")
    back = _map_back(boxed, SIZE, wide.size, cv2.INTER_LINEAR)
    assert back.shape == rgb.shape
    assert np.abs(back.astype(np.int16) - rgb).mean() < 12
    naive = cv2.resize(boxed, wide.size, interpolation=cv2.INTER_LINEAR)  # padding left in
    assert np.abs(naive.astype(np.int16) - rgb).mean() > 2 * np.abs(back.astype(np.int16) - rgb).mean()


def test_batch_counts_one_unreadable_file(bundle: Path, garment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    persons, garments, out = tmp_path / "persons", tmp_path / "garments", tmp_path / "out"
    persons.mkdir()
    garments.mkdir()
    (persons / "grace.jpg").write_bytes(_grace().read_bytes())
    (persons / "broken.jpg").write_bytes(_grace().read_bytes()[:300])  # truncated JPEG
    (garments / "tee.png").write_bytes(garment.read_bytes())
    rc = main(["tryon", "--persons", str(persons), "--garments", str(garments), "--output-dir", str(out),
               "--model", str(bundle), "--batch-size", "2", "--device", "cpu"])
    assert rc == 0  # one pair worked
    summary = capsys.readouterr().out
    assert "tried on 1 of 2 pairs; 1 failed (unreadable_image: 1)" in summary
    assert (out / "grace__tee.png").is_file()
    assert "broken.jpg" in (out / "failures.csv").read_text()


def test_batch_with_pairs_file_all_failing_exits_1(bundle: Path, garment: Path, tmp_path: Path) -> None:
    persons, garments = tmp_path / "p", tmp_path / "g"
    persons.mkdir()
    garments.mkdir()
    (garments / "tee.png").write_bytes(garment.read_bytes())
    (tmp_path / "pairs.txt").write_text("missing.jpg tee.png\n\n")
    rc = main(["tryon", "--persons", str(persons), "--garments", str(garments), "--pairs", str(tmp_path / "pairs.txt"),
               "--output-dir", str(tmp_path / "o"), "--model", str(bundle)])
    assert rc == 1
    assert main(["tryon", "--person", "x.jpg", "--model", str(bundle)]) == 2  # incomplete usage


def test_no_person_is_a_clear_error(engine: TryOnEngine, garment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yy, xx = np.mgrid[0:400, 0:300]
    scenery = np.stack([xx * 255 // 300, yy * 255 // 400, np.full_like(xx, 120)], -1).astype(np.uint8)
    with pytest.raises(TryOnError) as info:
        engine.tryon(Image.fromarray(scenery), Image.open(garment))
    assert info.value.reason == "no_person"
    assert "no person" in info.value.message
    # A garment shot that is not on a plain background fails with its own reason.
    noise = np.random.default_rng(0).integers(0, 255, (400, 300, 3), dtype=np.uint8)
    with pytest.raises(TryOnError) as info:
        engine.tryon(Image.open(_grace()), Image.fromarray(noise))
    assert info.value.reason == "garment_mask_failed"


def test_missing_model_says_how_to_get_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no mlflow.db, no data/train_tom/model here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ModelNotFound, match="dvc repro train_tom"):
        TryOnEngine.load(EngineConfig(model="", shipped_model=str(tmp_path / "no-release")))
    assert not (tmp_path / "mlflow.db").exists()  # looking must not create a store
    with pytest.raises(ModelNotFound, match="--model PATH"):
        load_models(EngineConfig(model=str(tmp_path)))


@pytest.fixture(scope="module")
def onnx_dir(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models exported by ``vton export-onnx`` (which verifies them itself)."""
    out = tmp_path_factory.mktemp("onnx") / "models"
    assert main(["export-onnx", "--model", str(bundle), "--output", str(out), "--opset", "17"]) == 0
    return out


def test_onnx_matches_torch(bundle: Path, onnx_dir: Path, engine: TryOnEngine, garment: Path) -> None:
    manifest = json.loads((onnx_dir / "engine.json").read_text())
    assert manifest["size"] == list(SIZE) and manifest["max_abs_diff"]["tom"] < 1e-3
    torch_models = load_models(EngineConfig(model=str(bundle), device="cpu"))
    onnx_models = load_models(EngineConfig(model=str(onnx_dir), backend="onnx"))
    # Real inputs from a real pair, batch of 3 (the export used 2: the batch axis must be free).
    pair = engine.prepare(_grace(), garment)
    person = pair.person.unsqueeze(0).repeat(3, 1, 1, 1)
    cloth = pair.cloth.unsqueeze(0).repeat(3, 1, 1, 1)
    with torch.no_grad():
        x = torch.cat([person, cloth], 1)
        warped_t, warped_o = torch_models.warp(x), onnx_models.warp(x)
        assert float((warped_t - warped_o).abs().max()) < 1e-3
        y = torch.cat([person, warped_t[:, :3], (warped_t[:, 3:4] > 0.5).float()], 1)
        assert float((torch_models.tom(y) - onnx_models.tom(y)).abs().max()) < 1e-3


def test_cli_onnx_backend(onnx_dir: Path, garment: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    rc = main(["tryon", "--person", str(_grace()), "--garment", str(garment), "--output", str(out),
               "--model", str(onnx_dir), "--backend", "onnx"])
    assert rc == 0 and Image.open(out).size == Image.open(_grace()).size
    # The same folder with the torch backend is a usage mistake with a clear message.
    with pytest.raises(ValueError, match="backend onnx"):
        load_models(EngineConfig(model=str(onnx_dir), backend="torch"))


def test_tryon_from_several_threads(engine: TryOnEngine, garment: Path) -> None:
    person, cloth = Image.open(_grace()).convert("RGB"), Image.open(garment).convert("RGB")
    results: list[object] = []

    def work() -> None:
        results.append(engine.tryon(person.copy(), cloth.copy()))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    a, b = (np.asarray(r.image, np.int16) for r in results)  # type: ignore[attr-defined]
    # Same input, same answer whichever thread (MediaPipe's threaded kernels may move a keypoint by a hair).
    assert a.shape == b.shape and np.abs(a - b).mean() < 1.0


def test_registered_models_load_by_uri_and_by_default(bundle: Path, garment: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Models logged and registered as the training stages do (wrapper + model_folder/meta.json), in a real store."""
    from pipeline.tracking.mlflow_run import stage_run
    from pipeline.train.export import GMMExport, TOMExport
    from pipeline.train.model_io import load_model

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for kind, wrap in (("gmm", GMMExport), ("tom", TOMExport)):
        with stage_run(f"train_{kind}", "infer-test", {"size": json.dumps(list(SIZE))}, kind, root=tmp_path) as run:
            run.log_artifact(bundle / kind / "meta.json", "model_folder")
            run.log_model(wrap(load_model(bundle / kind, kind)), torch.rand(2, PERSON_CHANNELS + 4, 64, 48),
                          registered_model_name=f"vton-{kind}")
    models = load_models(EngineConfig(model="models:/vton-tom/latest", tracking_uri=uri, device="cpu"))
    assert models.metadata["tom"] == "models:/vton-tom/1" and models.metadata["gmm"] == "models:/vton-gmm/1"
    assert models.size == SIZE  # read from the training run's params
    reference = load_models(EngineConfig(model=str(bundle), device="cpu"))
    x = torch.rand(1, PERSON_CHANNELS + 4, *SIZE)
    with torch.no_grad():
        assert torch.equal(models.tom(x), reference.tom(x))
    monkeypatch.chdir(tmp_path)
    # The newest registered version is never the default on its own (a queued experiment may have made it) ...
    with pytest.raises(ModelNotFound, match="marked 'champion'"):
        load_models(EngineConfig(model="", device="cpu", shipped_model=str(tmp_path / "no-release")))
    # ... the one the user marked is.
    assert main(["promote", "1"]) == 0 and main(["promote", "7"]) == 1
    default = load_models(EngineConfig(model="", device="cpu", shipped_model=str(tmp_path / "no-release")))
    assert default.metadata["tom"] == "models:/vton-tom/1" and default.metadata["model_source"] == "registered"
    # The workspace's own trained model comes first.
    for kind in ("gmm", "tom"):
        (tmp_path / "data" / f"train_{kind}").mkdir(parents=True)
        import shutil

        shutil.copytree(bundle / kind, tmp_path / "data" / f"train_{kind}" / "model")
    workspace = load_models(EngineConfig(model="", device="cpu", size=SIZE))
    assert workspace.metadata["model_source"] == "pipeline" and workspace.metadata["tom"] == "data/train_tom/model"
    with pytest.raises(ModelNotFound, match="not in the MLflow store"):
        load_models(EngineConfig(model="models:/vton-tom/7", tracking_uri=uri))


def test_parse_groups_lookup_matches_training() -> None:
    from pipeline.infer.prepare import _parse_groups
    from pipeline.train.parse_groups import group_onehot

    labels = np.random.default_rng(0).integers(0, 20, (64, 48)).astype(np.uint8)
    assert torch.equal(_parse_groups(labels), group_onehot(labels))


def test_training_layout_finds_gmm_and_size(bundle: Path, tmp_path: Path) -> None:
    """data/train_tom/model: the GMM is the sibling data/train_gmm/model, the size comes from metrics/train_tom.json."""
    import shutil

    for kind in ("gmm", "tom"):
        target = tmp_path / "data" / f"train_{kind}" / "model"
        shutil.copytree(bundle / kind, target)
        meta = json.loads((target / "meta.json").read_text())
        meta.pop("size")
        (target / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "train_tom.json").write_text(json.dumps({"image_size": [128, 96]}))
    models = load_models(EngineConfig(model=str(tmp_path / "data/train_tom/model/model.pt"), device="cpu"))
    assert models.size == (128, 96)
    assert models.metadata["gmm"].endswith("train_gmm/model")
    shutil.rmtree(tmp_path / "data" / "train_gmm")
    with pytest.raises(ModelNotFound, match="dvc repro train_gmm"):
        load_models(EngineConfig(model=str(tmp_path / "data/train_tom/model"), device="cpu"))


def test_engine_uses_and_enforces_the_trained_categories(tmp_path: Path, garment: Path) -> None:
    root = write_random_bundle(tmp_path / "lower", SIZE)
    meta = json.loads((root / "tom" / "meta.json").read_text())
    (root / "tom" / "meta.json").write_text(json.dumps({**meta, "categories": ["lower_body"]}))
    with TryOnEngine.load(EngineConfig(model=str(root), device="cpu")) as eng:
        assert eng.categories == ("lower_body",)
        # No category given: a one-category model takes the garment as its own category.
        assert eng.tryon(_grace(), garment).metadata["category"] == "lower_body"
        with pytest.raises(TryOnError) as info:
            eng.tryon(_grace(), garment, "upper_body")
        assert info.value.reason == "category_not_trained" and "lower_body" in info.value.message
    rc = main(["tryon", "--person", str(_grace()), "--garment", str(garment), "--output", str(tmp_path / "o.png"),
               "--model", str(root), "--category", "dresses"])
    assert rc == 1 and not (tmp_path / "o.png").exists()
