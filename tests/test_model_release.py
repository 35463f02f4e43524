"""Packaging a release folder: fp16 weights that load into the same models, checksums, the card, serving annotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.dataset.annotation_record import annotation_record
from pipeline.infer.models import load_models
from pipeline.infer.types import EngineConfig
from pipeline.model_release import ReleaseFacts, ReleaseSources, package_release, write_card
from pipeline.shipped_model import CARD, find_shipped, read_checksums
from pipeline.train.inputs import PERSON_CHANNELS
from tests.train_helpers import write_random_bundle

SIZE = (64, 48)


@pytest.fixture
def trained(tmp_path: Path) -> ReleaseSources:
    """Model folders as the four training stages leave them (parser and refiner as stand-in files)."""
    root = write_random_bundle(tmp_path / "stages", SIZE)
    meta_path = root / "tom" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["annotation"] = annotation_record({"backend": "mediapipe"}, {"hem_pull_down": 0.5}, {}, {}, "the data set's own")
    meta_path.write_text(json.dumps(meta))
    for part, graph in (("parser", "parser.onnx"), ("refiner", "refiner.onnx")):
        (root / part).mkdir()
        (root / part / graph).write_bytes(b"graph " + part.encode())
        (root / part / "meta.json").write_text("{}")
        (root / part / "weights.pt").write_bytes(b"training-only weights")
    return ReleaseSources(root / "gmm", root / "tom", root / "parser", root / "refiner")


def test_package_release_is_compact_verified_and_serves_with_its_parser(trained: ReleaseSources, tmp_path: Path) -> None:
    target = tmp_path / "models" / "viton256"
    sums = package_release(trained, target)
    assert set(sums) == {"gmm/model.pt", "gmm/meta.json", "tom/model.pt", "tom/meta.json", "parser/parser.onnx",
                         "parser/meta.json", "pose_refiner/refiner.onnx", "pose_refiner/meta.json", "LICENSE"}
    assert read_checksums(target) == sums and find_shipped(target) is not None
    for kind, src in (("gmm", trained.gmm), ("tom", trained.tom)):
        state = torch.load(target / kind / "model.pt", weights_only=True)["state_dict"]
        assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
        assert (target / kind / "model.pt").stat().st_size < 0.6 * (src / "model.pt").stat().st_size
    assert "research use only" in (target / "LICENSE").read_text()

    shipped = load_models(EngineConfig(model=str(target), device="cpu"))
    original = load_models(EngineConfig(model=str(trained.tom.parent), device="cpu"))
    x = torch.rand(2, PERSON_CHANNELS + 4, *SIZE)
    with torch.no_grad():
        assert (shipped.tom(x) - original.tom(x)).abs().max() < 0.02  # fp16 rounding of the weights only
    # Served with the shipped parser and refiner, named relative to the folder and resolved on loading.
    assert shipped.annotation is not None
    assert shipped.annotation["parse"]["backend"] == "learned"
    assert shipped.annotation["parse"]["learned_model"] == str((target / "parser").resolve())
    assert shipped.annotation["pose"]["refiner_model"] == str((target / "pose_refiner").resolve())
    assert shipped.annotation["pose"]["hem_pull_down"] == 0.0
    recorded = json.loads((target / "tom" / "meta.json").read_text())["annotation"]
    assert recorded["parse"]["learned_model"] == "parser"  # relative: the folder can move


def test_card_lists_figures_and_every_checksum(trained: ReleaseSources, tmp_path: Path) -> None:
    target = tmp_path / "viton256"
    sums = package_release(trained, target)
    model = {"ssim": 0.83, "psnr": 21.0, "lpips": 0.15, "fid": 40.0, "kid": 0.01}
    facts = ReleaseFacts(name="viton256", data="synthetic", command="python benchmarks/bench_viton.py DATA --release X",
                         commit="abc123", machine="test box", seconds={"train_gmm": 600.0},
                         evaluation={"model": model, "baselines": {"agnostic": {"ssim": 0.7}}, "pairs": 3, "split": "test",
                                     "warped_mask_iou": 0.8},
                         evaluation_fp32={"model": {**model, "ssim": 0.8301}})
    card = write_card(target, facts).read_text()
    assert card == (target / CARD).read_text()
    for name, digest in sums.items():
        assert f"`{name}`" in card and digest in card
    assert "0.8300" in card and "0.8301" in card and "abc123" in card and "train_gmm 10.0 min" in card
    assert "research use only" in card
    find_shipped(target)  # the card is not in the checksums: writing it breaks nothing


def test_missing_model_is_a_clear_error(trained: ReleaseSources, tmp_path: Path) -> None:
    (trained.gmm / "model.pt").unlink()
    with pytest.raises(FileNotFoundError, match="no gmm model"):
        package_release(trained, tmp_path / "out")
    assert not (tmp_path / "out").exists()
