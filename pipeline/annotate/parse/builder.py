"""Pick and build the configured parser backend."""

from __future__ import annotations

from pipeline.annotate.parse.base import HumanParser
from pipeline.annotate.parse.config import ParseConfig


def build_parser(cfg: ParseConfig) -> HumanParser:
    """The parser ``cfg.backend`` names; raises ParserUnavailable when its model is missing."""
    if cfg.backend == "learned":
        from pipeline.annotate.parse.learned_parser import learned_onnx_config

        cfg = learned_onnx_config(cfg)
    if cfg.backend == "onnx":
        from pipeline.annotate.parse.onnx_parser import OnnxParser

        return OnnxParser(cfg)
    from pipeline.annotate.parse.mediapipe_parser import MediapipeParser

    return MediapipeParser(cfg)


def parser_name(cfg: ParseConfig) -> str:
    """The ``name`` the parser ``cfg`` builds would have, without loading its model."""
    if cfg.backend == "learned":
        from pipeline.annotate.parse.learned_parser import learned_onnx_config

        cfg = learned_onnx_config(cfg)
    if cfg.backend == "onnx":
        from pipeline.annotate.parse.onnx_parser import onnx_parser_name

        return onnx_parser_name(cfg)
    from pipeline.annotate.parse.mediapipe_parser import mediapipe_parser_name

    return mediapipe_parser_name(cfg)
