"""Training params are checked before any work: unknown keys, bad values, missing pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.models.vgg import MissingWeightsError
from pipeline.train.config import TrainConfig
from pipeline.train.gmm_trainer import GMMTask
from pipeline.train.tom_trainer import TOMTask
from pipeline.train.warp_writer import WarpConfig
from tests.train_helpers import tiny_cfg


def test_unknown_and_bad_values_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown training param.*'lr_max'"):
        TrainConfig.from_dict({"lr_max": 1})
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig.from_dict({"batch_size": 0})
    with pytest.raises(ValueError, match="size"):
        TrainConfig.from_dict({"size": [256]})
    with pytest.raises(ValueError, match="unknown warp param"):
        WarpConfig.from_dict({"sizes": [1, 2]})
    with pytest.raises(ValueError, match="ngf_typo"):
        GMMTask(tiny_cfg(tmp_path, "gmm", model={"ngf_typo": 3}))
    with pytest.raises(ValueError, match="no discriminator"):
        GMMTask(tiny_cfg(tmp_path, "gmm", discriminator={"ndf": 8}))


def test_params_hash_ignores_nothing_but_trajectory_ignores_epochs(tmp_path: Path) -> None:
    a, b = tiny_cfg(tmp_path, epochs=1), tiny_cfg(tmp_path, epochs=5)
    assert a.params_hash() != b.params_hash() and a.trajectory_hash() == b.trajectory_hash()
    assert a.trajectory_hash() != tiny_cfg(tmp_path, lr=1e-3).trajectory_hash()


def test_perceptual_loss_without_vgg_weights_names_the_param(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = {"l1": 1.0, "perceptual": 1.0, "style": 100.0, "adversarial": 0.0, "mask": 1.0}
    with pytest.raises(MissingWeightsError, match="train_tom.vgg_weights"):
        TOMTask(tiny_cfg(tmp_path, "tom", loss_weights=weights, vgg_weights=str(tmp_path / "none.pth")))
    # The stage turns it into one sentence and a non-zero exit, before touching the data set.
    params = tmp_path / "params.yaml"
    missing = str(tmp_path / "none.pth")
    params.write_text(yaml.safe_dump({"train_tom": tiny_cfg(tmp_path / "nowhere", "tom", loss_weights=weights,
                                                            vgg_weights=missing).to_dict()}))
    monkeypatch.setenv("VTON_PARAMS", str(params))
    monkeypatch.chdir(tmp_path)
    from stages import train_tom

    with pytest.raises(SystemExit) as exit_info:
        train_tom.main()
    assert str(exit_info.value.code).startswith(f"VGG weights not found at {missing}") \
        and "train_tom.vgg_weights" in str(exit_info.value.code) and "vton weights fetch vgg19" in str(exit_info.value.code)
    assert not (tmp_path / "data").exists()
