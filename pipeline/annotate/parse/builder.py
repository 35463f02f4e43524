"""Pick and build the configured parser backend."""

from __future__ import annotations

from pipeline.annotate.parse.base import HumanParser
from pipeline.annotate.parse.config import ParseConfig


def _resolved(cfg: ParseConfig) -> ParseConfig:
    """``cfg`` with the ``learned`` backend turned into the ONNX settings it stands for."""
    if cfg.backend != "learned":
        return cfg
    from pipeline.annotate.parse.learned_parser import learned_onnx_config

    return learned_onnx_config(cfg)


def build_parser(cfg: ParseConfig) -> HumanParser:
    """The parser ``cfg.backend`` names; raises ParserUnavailable when its model is missing."""
    cfg = _resolved(cfg)
    if cfg.backend == "onnx":
        from pipeline.annotate.parse.onnx_parser import OnnxParser

        return OnnxParser(cfg)
    from pipeline.annotate.parse.mediapipe_parser import MediapipeParser

    return MediapipeParser(cfg)


def parser_name(cfg: ParseConfig) -> str:
    """The ``name`` the parser ``cfg`` builds would have, without loading its model."""
    cfg = _resolved(cfg)
    if cfg.backend == "onnx":
        from pipeline.annotate.parse.onnx_parser import onnx_parser_name

        return onnx_parser_name(cfg)
    from pipeline.annotate.parse.mediapipe_parser import mediapipe_parser_name

    return mediapipe_parser_name(cfg)
