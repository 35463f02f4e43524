"""Tiny configs and data for the training tests (64x48 images, ngf 8)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from pipeline.train.config import TrainConfig
from tests.synthetic_viton import write_synthetic_viton

GMM_MODEL = {"ngf": 8, "work_size": [128, 96]}
TOM_MODEL = {"ngf": 8, "attention_heads": 2, "bottleneck_blocks": 2}


def tiny_cfg(root: Path, kind: str = "gmm", **overrides: Any) -> TrainConfig:
    """A config that trains in about a second per epoch on CPU."""
    base: dict[str, Any] = {
        "dataset": str(root), "size": [64, 48], "epochs": 2, "batch_size": 2, "warmup_epochs": 1,
        "device": "cpu", "seed": 3, "log_model": False, "registered_model_name": f"test-{kind}",
        "mlflow_experiment": "test-vton", "threads": 1,
    }
    if kind == "gmm":
        base.update(model=GMM_MODEL, loss_weights={"l1": 1.0, "mask": 1.0, "smooth": 0.5})
    else:
        base.update(model=TOM_MODEL, loss_weights={"l1": 1.0, "perceptual": 0.0, "style": 0.0, "adversarial": 0.1, "mask": 1.0},
                    discriminator={"ndf": 8, "n_layers": 2})
    base.update(overrides)
    return TrainConfig.from_dict(base)


def synthetic_with_warps(root: Path, n_train: int = 4, n_test: int = 2) -> tuple[Path, Path]:
    """A synthetic data set plus a warp-stage-like folder (the in-shop cloth standing in for the warped one)."""
    data = write_synthetic_viton(root / "dataset", n_train=n_train, n_test=n_test)
    warped = root / "warp"
    for split in ("train", "test"):
        (warped / split / "warped-cloth").mkdir(parents=True)
        (warped / split / "warped-mask").mkdir(parents=True)
        for cloth in (data / split / "cloth").iterdir():
            shutil.copy(cloth, warped / split / "warped-cloth" / cloth.name)
            mask = data / split / "cloth-mask" / cloth.name
            from PIL import Image

            Image.open(mask).convert("L").save(warped / split / "warped-mask" / f"{cloth.stem}.png")
    return data, warped


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Every tensor of two state dicts is bit-identical."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def write_random_bundle(root: Path, size: tuple[int, int]) -> Path:
    """Save a tiny GMM + TOM with random weights (explicitly, for inference tests) as training saves them."""
    from pipeline.models import GMM, TOM, GMMConfig, TOMConfig
    from pipeline.train.inputs import PERSON_CHANNELS
    from pipeline.train.model_io import save_model

    torch.manual_seed(0)
    g = GMMConfig(person_channels=PERSON_CHANNELS, ngf=8, work_size=(128, 96))
    t = TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, bottleneck_blocks=1, attention_heads=2, head_channels=4)
    save_model(root / "gmm", "gmm", GMM(g), g, {"size": list(size)})
    save_model(root / "tom", "tom", TOM(t), t, {"size": list(size)})
    return root
