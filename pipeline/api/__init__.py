"""The REST API (``vton serve``): ``create_app(ApiConfig(...))`` serves try-ons of one loaded engine.

The names are imported on first use: ``vton serve --help`` and a wrong argument must answer before
FastAPI, torch and MediaPipe load (seconds), as ``vton tryon`` does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiConfig", "BatchConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from pipeline.api.app import create_app

        return create_app
    if name in ("ApiConfig", "BatchConfig"):
        from pipeline.api import config

        return getattr(config, name)
    raise AttributeError(f"module 'pipeline.api' has no attribute {name!r}")
