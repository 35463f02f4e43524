"""Fine-tuning from a saved model (``init_from``): the weights are loaded, another architecture is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.models import GMM
from pipeline.train.gmm_trainer import GMMTask, gmm_config
from pipeline.train.model_io import load_model, save_model
from pipeline.train.stage_runner import StagePaths, run_training_stage
from pipeline.train.tom_trainer import TOMTask
from tests.synthetic_viton import write_synthetic_viton
from tests.train_helpers import GMM_MODEL, tiny_cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_viton(tmp_path_factory.mktemp("viton"), n_train=4, n_test=2)


def _saved_gmm(folder: Path, data: Path, fp16: bool = False, **model: object) -> dict[str, torch.Tensor]:
    """Save a GMM with random weights as training (or, with ``fp16``, a release folder) stores it."""
    cfg = gmm_config(tiny_cfg(data, "gmm", model={**GMM_MODEL, **model}))
    torch.manual_seed(11)
    module = GMM(cfg)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))  # far from any fresh initialisation
    save_model(folder, "gmm", module, cfg)
    if fp16:
        saved = torch.load(folder / "model.pt", weights_only=True)
        saved["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in saved["state_dict"].items()}
        torch.save(saved, folder / "model.pt")
    return {k: v.float() if v.is_floating_point() else v for k, v in torch.load(folder / "model.pt", weights_only=True)["state_dict"].items()}


@pytest.mark.parametrize("fp16", [False, True])
def test_init_from_starts_from_the_saved_weights(data: Path, tmp_path: Path, fp16: bool) -> None:
    saved = _saved_gmm(tmp_path / "init", data, fp16=fp16)
    module = GMMTask(tiny_cfg(data, "gmm", init_from=str(tmp_path / "init"))).create_modules()["gmm"]
    state = module.state_dict()
    for key, value in saved.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key
    fresh = GMMTask(tiny_cfg(data, "gmm")).create_modules()["gmm"].state_dict()
    assert any(not torch.equal(fresh[k], saved[k]) for k in saved if saved[k].is_floating_point())


def test_fine_tuning_runs_and_records_its_start(data: Path, tmp_path: Path) -> None:
    """A real (one-epoch) training stage from ``init_from``: its first validation is the saved model's, not a fresh one's."""
    _saved_gmm(tmp_path / "init", data)
    tuned = tiny_cfg(data, "gmm", epochs=1, lr=1e-9, warmup_epochs=0, mlflow_experiment="", init_from=str(tmp_path / "init"))
    scratch = tiny_cfg(data, "gmm", epochs=1, lr=1e-9, warmup_epochs=0, mlflow_experiment="")
    a = run_training_stage("gmm", tuned, StagePaths.for_stage("train_gmm", tmp_path / "a", tmp_path / "ma"))
    b = run_training_stage("gmm", scratch, StagePaths.for_stage("train_gmm", tmp_path / "b", tmp_path / "mb"))
    assert a is not None and b is not None
    meta = json.loads((tmp_path / "a" / "train_gmm" / "model" / "meta.json").read_text())
    assert meta["init_from"] == str(tmp_path / "init")
    # At lr 1e-9 the model is still the one it started from.
    init, done = load_model(tmp_path / "init", "gmm").state_dict(), load_model(tmp_path / "a" / "train_gmm" / "model", "gmm").state_dict()
    assert all(torch.allclose(init[k].float(), done[k].float(), atol=1e-5) for k in init)
    assert a["best_val_loss"] != pytest.approx(b["best_val_loss"], rel=1e-4)


def test_init_from_refuses_another_architecture_naming_the_setting(data: Path, tmp_path: Path) -> None:
    _saved_gmm(tmp_path / "init", data, ngf=16)
    with pytest.raises(ValueError, match=r"ngf: 16 there, 8 here"):
        GMMTask(tiny_cfg(data, "gmm", init_from=str(tmp_path / "init"))).create_modules()


def test_init_from_refuses_another_kind_and_a_missing_folder(data: Path, tmp_path: Path) -> None:
    _saved_gmm(tmp_path / "init", data)
    with pytest.raises(ValueError, match="holds a 'gmm' model, not a 'tom'"):
        TOMTask(tiny_cfg(data, "tom", init_from=str(tmp_path / "init"))).create_modules()
    with pytest.raises(ValueError, match="init_from .* is not a folder"):
        tiny_cfg(data, "gmm", init_from=str(tmp_path / "absent"))


def test_release_folder_layout_is_found(data: Path, tmp_path: Path) -> None:
    """init_from may name the release folder itself (models/viton256): the GMM is its gmm/ part."""
    saved = _saved_gmm(tmp_path / "release" / "gmm", data, fp16=True)
    module = GMMTask(tiny_cfg(data, "gmm", init_from=str(tmp_path / "release"))).create_modules()["gmm"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())
