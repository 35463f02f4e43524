"""The model set shipped in models/viton256: which model answers when, and refusing a corrupted file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.annotate.command import annotation_models
from pipeline.infer.models import load_models
from pipeline.infer.types import EngineConfig
from pipeline.shipped_model import CARD, CHECKSUMS, SHIPPED_DIR, CorruptModel, find_shipped, read_checksums, sha256, write_checksums
from pipeline.train.inputs import PERSON_CHANNELS
from tests.train_helpers import write_random_bundle

SIZE = (64, 48)


def _release(root: Path, seed: int = 0) -> Path:
    """A release-shaped folder: random tiny GMM + TOM, a parser and refiner stand-in, checksums."""
    write_random_bundle(root, SIZE)  # seeds itself: other weights need a nudge
    if seed:
        path = root / "tom" / "model.pt"
        saved = torch.load(path, weights_only=True)
        torch.manual_seed(seed)
        saved["state_dict"] = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
                               for k, v in saved["state_dict"].items()}
        torch.save(saved, path)
    for part, name in (("parser", "parser.onnx"), ("pose_refiner", "refiner.onnx")):
        (root / part).mkdir()
        (root / part / name).write_bytes(b"onnx stand-in " + part.encode())
        (root / part / "meta.json").write_text("{}")
    write_checksums(root)
    return root


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return _release(tmp_path / "viton256")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no MLflow store and no data/: nothing of the pipeline's own."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return work


def _same_tom(a, b) -> bool:
    x = torch.rand(1, PERSON_CHANNELS + 4, *SIZE)
    with torch.no_grad():
        return torch.equal(a.tom(x), b.tom(x))


def test_selection_order_explicit_then_champion_then_shipped(release: Path, elsewhere: Path, tmp_path: Path) -> None:
    """Nothing of the pipeline's own: the shipped model; the registered champion wins over it; an explicit one over both."""
    shipped = load_models(EngineConfig(device="cpu", shipped_model=str(release)))
    assert shipped.metadata["model_source"] == "shipped"
    assert "shipped model viton256" in shipped.metadata["model"] and "research use only" in shipped.metadata["model"]

    from pipeline.tracking.mlflow_run import stage_run
    from pipeline.train.export import GMMExport, TOMExport
    from pipeline.train.model_io import load_model

    # A stand-in registered model with other weights, in a real store where the pipeline keeps it.
    other = _release(tmp_path / "other", seed=1)
    for kind, wrap in (("gmm", GMMExport), ("tom", TOMExport)):
        with stage_run(f"train_{kind}", "shipped-test", {"size": json.dumps(list(SIZE))}, kind, root=elsewhere) as run:
            run.log_artifact(other / kind / "meta.json", "model_folder")
            run.log_model(wrap(load_model(other / kind, kind)), torch.rand(2, PERSON_CHANNELS + 4, *SIZE),
                          registered_model_name=f"vton-{kind}")
    # Registered but not marked: the shipped model still answers; marked champion, the registered one does.
    assert load_models(EngineConfig(device="cpu", shipped_model=str(release))).metadata["model_source"] == "shipped"
    from pipeline.cli import main

    assert main(["promote", "1"]) == 0
    registered = load_models(EngineConfig(device="cpu", shipped_model=str(release)))
    assert registered.metadata["model_source"] == "registered" and registered.metadata["tom"] == "models:/vton-tom/1"
    assert not _same_tom(registered, shipped)

    explicit = load_models(EngineConfig(model=str(release), device="cpu", shipped_model=str(other)))
    assert explicit.metadata["model_source"] == "explicit" and _same_tom(explicit, shipped)


def test_workspace_model_comes_before_the_shipped_model(release: Path, elsewhere: Path) -> None:
    own = write_random_bundle(elsewhere / "bundle", SIZE)
    for kind in ("gmm", "tom"):
        (elsewhere / "data" / f"train_{kind}").mkdir(parents=True)
        (own / kind).rename(elsewhere / "data" / f"train_{kind}" / "model")
    models = load_models(EngineConfig(device="cpu", size=SIZE, shipped_model=str(release)))
    assert models.metadata["model_source"] == "pipeline" and models.metadata["tom"] == "data/train_tom/model"


def test_a_corrupted_file_is_refused_naming_it(release: Path, elsewhere: Path) -> None:
    target = release / "tom" / "model.pt"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    for cfg in (EngineConfig(model=str(release), device="cpu"), EngineConfig(device="cpu", shipped_model=str(release))):
        with pytest.raises(CorruptModel, match=r"tom/model\.pt is corrupted"):
            load_models(cfg)


def test_a_missing_listed_file_is_named(release: Path) -> None:
    (release / "parser" / "parser.onnx").unlink()
    with pytest.raises(CorruptModel, match=r"parser/parser\.onnx is missing"):
        find_shipped(release)


def test_annotate_picks_given_then_pipeline_then_shipped(release: Path, elsewhere: Path) -> None:
    given = elsewhere / "mine"
    parser, refiner, why = annotation_models(given, None, offline=False, shipped_root=release)
    assert parser == given and refiner is None and "command line" in why
    parser, refiner, why = annotation_models(None, None, offline=False, shipped_root=release)
    assert parser == release / "parser" and refiner == release / "pose_refiner" and "shipped" in why
    own = elsewhere / "data" / "train_parse" / "model"
    own.mkdir(parents=True)
    (own / "parser.onnx").write_bytes(b"x")
    parser, refiner, why = annotation_models(None, None, offline=False, shipped_root=release)
    assert parser == Path("data/train_parse/model") and refiner is None and "pipeline's own" in why
    assert annotation_models(None, None, offline=True, shipped_root=release)[:2] == (None, None)


def test_the_committed_release_matches_its_card() -> None:
    """models/viton256: every file listed with its SHA-256 in SHA256SUMS and in the card, within 40 MB."""
    if not (SHIPPED_DIR / "tom" / "model.pt").is_file():
        pytest.skip("no model shipped in this checkout")
    sums = read_checksums(SHIPPED_DIR)
    files = {p.relative_to(SHIPPED_DIR).as_posix() for p in SHIPPED_DIR.rglob("*") if p.is_file()} - {CHECKSUMS, CARD}
    assert set(sums) == files
    card = (SHIPPED_DIR / CARD).read_text(encoding="utf-8")
    for name, digest in sums.items():
        assert sha256(SHIPPED_DIR / name) == digest, name
        assert digest in card and name in card, f"{name} is not in the card with its SHA-256"
    assert sum((SHIPPED_DIR / n).stat().st_size for n in files) <= 40 * 2**20
    assert find_shipped() is not None
