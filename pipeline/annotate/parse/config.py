"""Typed settings of the human parser; built from the ``parse:`` params block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config_mapping import check_keys

BACKENDS = ("mediapipe", "onnx", "learned")


@dataclass(frozen=True)
class ParseConfig:
    """How to parse people into CIHP labels.

    ``backend``: "mediapipe" (offline, built from the models inside the mediapipe wheel)
    or "onnx" (an SCHP-style network exported to ONNX, file given by ``onnx_model_path``)
    or "learned" (the network the ``train_parse`` stage trains on a data set's own parse
    maps: ``learned_model`` is its ``model`` folder, whose ``meta.json`` sets the ONNX
    pre-processing, so the ``onnx_*`` params are ignored).

    ONNX pre-processing defaults follow SCHP's own inference code: the picture is read
    as BGR, letterboxed (aspect kept, zero padding) to ``onnx_input_size`` = [h, w],
    scaled to 0..1 and normalised with the ImageNet statistics listed in BGR order.
    ``onnx_output`` names the logits output; when empty, the last output with one
    channel per label is used (SCHP exports parsing, fusion and edge outputs, and the
    fusion logits are the ones SCHP's inference reads).
    """

    backend: str = "mediapipe"
    onnx_model_path: str | None = None
    learned_model: str | None = None
    onnx_label_set: str = "atr"
    onnx_input_size: tuple[int, int] = (512, 512)
    onnx_mean: tuple[float, float, float] = (0.406, 0.456, 0.485)
    onnx_std: tuple[float, float, float] = (0.225, 0.224, 0.229)
    onnx_channel_order: str = "bgr"
    onnx_keep_aspect: bool = True
    onnx_output: str | None = None
    onnx_threads: int = 1
    # LIP and ATR have no neck class; recover it from face-coloured skin under the chin.
    fill_neck: bool = True
    # mediapipe backend knobs
    mp_work_long_side: int = 512
    mp_model_complexity: int = 1
    mp_min_detection_confidence: float = 0.5
    # When nobody is found: retry on a copy padded by this fraction, then at the lower
    # threshold (the pose annotator's ladder, pipeline.annotate.detection_retry).
    mp_retry_min_detection_confidence: float = 0.1
    mp_retry_pad_fraction: float = 0.2
    mp_person_threshold: float = 0.5
    mp_skin_threshold: float = 3.0
    mp_refine_clothes: bool = True
    mp_threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"parse.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.onnx_label_set not in ("atr", "lip", "cihp"):
            raise ValueError(f"parse.onnx_label_set must be 'atr', 'lip' or 'cihp', got {self.onnx_label_set!r}")
        if self.onnx_channel_order not in ("bgr", "rgb"):
            raise ValueError(f"parse.onnx_channel_order must be 'bgr' or 'rgb', got {self.onnx_channel_order!r}")
        size = tuple(int(v) for v in self.onnx_input_size)
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"parse.onnx_input_size must be [height, width], got {self.onnx_input_size!r}")
        object.__setattr__(self, "onnx_input_size", size)
        for name in ("onnx_mean", "onnx_std"):
            vals = tuple(float(v) for v in getattr(self, name))
            if len(vals) != 3:
                raise ValueError(f"parse.{name} needs three values, got {vals!r}")
            object.__setattr__(self, name, vals)
        if self.mp_work_long_side < 128:
            raise ValueError("parse.mp_work_long_side must be at least 128")
        if self.mp_model_complexity not in (0, 1, 2):
            raise ValueError("parse.mp_model_complexity must be 0, 1 or 2")
        for name in ("mp_min_detection_confidence", "mp_retry_min_detection_confidence", "mp_retry_pad_fraction"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"parse.{name} must be in [0, 1], got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ParseConfig":
        """Build from a params mapping, rejecting keys this config does not know."""
        data = dict(data or {})
        # Keys the stage owns (worker count, folders) may sit in the same params block.
        passthrough = {k: data.pop(k) for k in list(data) if k in STAGE_KEYS}
        if "extra" in data:
            raise ValueError("unknown parse param(s) ['extra']; it is filled from the stage's own keys")
        check_keys(cls, data, "parse", also=STAGE_KEYS)
        return cls(**data, extra=passthrough)


# Keys of the ``parse:`` block read by the stage, not by the parser.
STAGE_KEYS = ("workers", "splits", "limit")
