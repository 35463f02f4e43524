"""Start a training run from a saved model's weights (``init_from``): fine-tuning, for instance the demo from the shipped model.

The saved folder is one :func:`pipeline.train.model_io.save_model` wrote (``model.pt`` + config),
or a release folder's ``gmm/`` or ``tom/`` (weights kept in fp16 there; ``load_state_dict`` copies
them into the fp32 parameters). A model of another architecture is refused with the settings that
differ, before any step is taken, rather than failing inside ``load_state_dict`` with tensor shapes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.log import get_logger
from pipeline.train.model_io import MODEL_FILE

log = get_logger(__name__)


def saved_model_file(folder: str | Path, kind: str) -> Path:
    """``folder/model.pt`` (or ``folder/<kind>/model.pt`` for a release folder); FileNotFoundError naming it otherwise."""
    root = Path(folder)
    for candidate in (root / MODEL_FILE, root / kind / MODEL_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"init_from {root}: no {MODEL_FILE} there (nor {kind}/{MODEL_FILE}); "
                            "point it at a model folder the training stages wrote, or set init_from: null")


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{setting: (saved value, current value)}`` for every model setting the two configs disagree on."""
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 - JSON turns tuples into lists
    return {k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current))
            if norm(saved.get(k)) != norm(current.get(k))}


def load_initial_weights(module: nn.Module, folder: str | Path, kind: str, model_cfg: Any) -> Path:
    """Copy the weights saved in ``folder`` into ``module`` (built from ``model_cfg``); returns the file read.

    Raises ``ValueError`` naming the differing settings when the saved model's architecture is not
    this one's, and for a file that holds another kind of model.
    """
    path = saved_model_file(folder, kind)
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved.get("kind") != kind:
        raise ValueError(f"init_from {path} holds a {saved.get('kind')!r} model, not a {kind!r} one")
    current = dataclasses.asdict(model_cfg)
    differ = config_differences(saved.get("config") or {}, current)
    try:
        module.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        named = "; ".join(f"{k}: {a!r} there, {b!r} here" for k, a, b in ((k, *v) for k, v in differ.items()))
        first = str(exc).strip().splitlines()[1:2] or [str(exc)[:200]]
        raise ValueError(f"init_from {path}: its {kind} has another architecture "
                         f"({named or 'same settings, other tensors: ' + first[0].strip()}); "
                         f"make train_{kind}.model match it, or set init_from: null to train from scratch") from None
    if differ:
        # Settings that own no weights (a paste margin, a work size) may differ: the weights still fit.
        log.warning("init_from model was trained with other settings that own no weights", kind=kind, path=str(path),
                    differ={k: list(v) for k, v in differ.items()})
    log.info("weights initialised from a saved model", kind=kind, path=str(path))
    return path
