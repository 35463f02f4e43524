"""Save a stage's final model as a plain folder (weights + config) and load it back for the next stage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.io.atomic import atomic_dir
from pipeline.models.gmm import GMM, GMMConfig
from pipeline.models.tom import TOM, TOMConfig

MODEL_FILE = "model.pt"
_KINDS: dict[str, tuple[type[nn.Module], Any]] = {"gmm": (GMM, GMMConfig), "tom": (TOM, TOMConfig)}


def save_model(target: str | Path, kind: str, module: nn.Module, config: Any, meta: dict[str, Any] | None = None) -> None:
    """Write ``target/model.pt`` (kind, config, state dict) and ``target/meta.json`` atomically."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    cfg = dataclasses.asdict(config)
    with atomic_dir(target) as tmp:
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        torch.save({"kind": kind, "config": cfg, "state_dict": state}, tmp / MODEL_FILE)
        (tmp / "meta.json").write_text(json.dumps({"kind": kind, "config": cfg, **(meta or {})}, indent=2, sort_keys=True, default=str) + "\n")


def load_model(folder: str | Path, kind: str, device: str | torch.device = "cpu") -> nn.Module:
    """The ``kind`` (gmm|tom) model saved in ``folder`` by :func:`save_model`, in eval mode."""
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run the train_{kind} stage first (dvc repro train_{kind})")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("kind") != kind:
        raise ValueError(f"{path} holds a {saved.get('kind')!r} model, not {kind!r}")
    model_cls, cfg_cls = _KINDS[kind]
    model = model_cls(cfg_cls.from_dict(saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()
