"""Helpers every stage entry point shares: reading its params block and setting up logging."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from pipeline.log import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent


def params_path() -> Path:
    """The params file: ``VTON_PARAMS`` when set (tests), else ``params.yaml`` in the working dir."""
    return Path(os.environ.get("VTON_PARAMS", "params.yaml"))


def load_params(stage: str) -> dict[str, Any]:
    """Return the ``stage`` block of the params file, failing clearly when it is missing."""
    path = params_path()
    if not path.is_file():
        raise SystemExit(f"{path} not found: run the stage from the repository root.")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if stage not in data:
        raise SystemExit(f"{path} has no '{stage}:' block; add one (see the README's params section).")
    return data[stage]


def stage_setup(stage: str) -> dict[str, Any]:
    """Configure logging and return the stage's params."""
    configure_logging()
    return load_params(stage)
