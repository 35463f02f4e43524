"""The ``learned`` backend: the parser ``train_parse`` trained, run through the ONNX backend.

``train_parse`` writes ``parser.onnx`` beside a ``meta.json`` whose ``parse`` mapping holds
the pre-processing the network was trained with; this module turns that into the ONNX
backend's settings, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse.errors import ParserUnavailable

_HOW = "set parse.learned_model to the model folder the train_parse stage writes (dvc repro train_parse)"
_ALLOWED = {"onnx_label_set", "onnx_input_size", "onnx_mean", "onnx_std", "onnx_channel_order", "onnx_keep_aspect", "onnx_output"}


def learned_parse(model: str | Path | None) -> dict[str, str]:
    """The ``parse:`` params that select the learned parser in ``model`` (none: the defaults)."""
    return {} if model is None else {"backend": "learned", "learned_model": str(model)}


def learned_onnx_config(cfg: ParseConfig) -> ParseConfig:
    """The ``onnx`` backend config that runs ``cfg.learned_model``; ParserUnavailable when it is missing or foreign."""
    if not cfg.learned_model:
        raise ParserUnavailable(f"The learned parser needs its model: {_HOW}.")
    folder = Path(cfg.learned_model)
    meta_path, onnx_path = folder / "meta.json", folder / "parser.onnx"
    if not meta_path.is_file() or not onnx_path.is_file():
        raise ParserUnavailable(f"No trained parser in {folder} (meta.json and parser.onnx expected): {_HOW}.")
    try:
        settings = json.loads(meta_path.read_text(encoding="utf-8"))["parse"]
        unknown = set(settings) - _ALLOWED
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        return dataclasses.replace(cfg, backend="onnx", onnx_model_path=str(onnx_path), **settings)
    except (ValueError, KeyError, TypeError) as exc:
        raise ParserUnavailable(f"{meta_path} is not a train_parse model description ({exc}): {_HOW}.") from exc
