"""Pick and build the configured parser backend."""

from __future__ import annotations

from pipeline.annotate.parse.base import HumanParser
from pipeline.annotate.parse.config import ParseConfig


def build_parser(cfg: ParseConfig) -> HumanParser:
    """The parser ``cfg.backend`` names; raises ParserUnavailable when its model is missing."""
    if cfg.backend == "onnx":
        from pipeline.annotate.parse.onnx_parser import OnnxParser

        return OnnxParser(cfg)
    from pipeline.annotate.parse.mediapipe_parser import MediapipeParser

    return MediapipeParser(cfg)
