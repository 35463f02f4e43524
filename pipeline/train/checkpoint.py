"""Save and restore a whole training state (weights, optimisers, scaler, RNGs) so a run resumes exactly."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.io.atomic import atomic_file
from pipeline.log import get_logger

log = get_logger(__name__)


def rng_state() -> dict[str, Any]:
    """Every random generator a training step may draw from."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only when GPUs are present)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically (an interrupted save leaves the old file intact)."""
    with atomic_file(path, "wb") as fh:
        torch.save(state, fh)
    log.info("checkpoint saved", path=path, epoch=state.get("epoch"))


def load_checkpoint(path: str | Path) -> dict[str, Any] | None:
    """The state saved at ``path`` on CPU, or None when there is none or it cannot be read."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        # Our own files: they hold numpy/python RNG states, which the weights-only loader refuses.
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a torn or foreign file means "start fresh"
        log.warning("checkpoint unreadable, ignoring it", path=path, detail=str(exc)[:200])
        return None
