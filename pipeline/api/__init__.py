"""The REST API (``vton serve``): ``create_app(ApiConfig(...))`` serves try-ons of one loaded engine."""

from pipeline.api.app import create_app
from pipeline.api.config import ApiConfig, BatchConfig

__all__ = ["ApiConfig", "BatchConfig", "create_app"]
