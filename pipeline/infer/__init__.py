"""Inference: ``TryOnEngine.load(EngineConfig(...)).tryon(person, garment)`` on raw pictures."""

from pipeline.infer.engine import TryOnEngine
from pipeline.infer.models import ModelNotFound
from pipeline.infer.types import EngineConfig, TryOnError, TryOnResult

__all__ = ["EngineConfig", "ModelNotFound", "TryOnEngine", "TryOnError", "TryOnResult"]
