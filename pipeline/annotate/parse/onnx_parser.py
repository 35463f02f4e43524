"""An SCHP-style human parser exported to ONNX, run with onnxruntime on the CPU."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from pipeline.annotate.parse.base import check_rgb
from pipeline.annotate.parse.config import ParseConfig
from pipeline.annotate.parse.errors import ParserUnavailable
from pipeline.annotate.parse.framing import letterbox_box
from pipeline.annotate.parse.labels import LABEL_SETS, mapping_lut
from pipeline.annotate.parse.skin import fill_neck
from pipeline.log import get_logger

log = get_logger(__name__)


def onnx_parser_name(cfg: ParseConfig) -> str:
    """Label set, file name and content digest of the configured model (recorded in the parse metrics)."""
    path = Path(cfg.onnx_model_path)
    return f"onnx-{cfg.onnx_label_set}:{path.name}:{_file_digest(path)[:12]}"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OnnxParser:
    """Letterbox, normalise, run, upsample the logits back, argmax, map to CIHP."""

    def __init__(self, cfg: ParseConfig) -> None:
        import onnxruntime as ort

        if not cfg.onnx_model_path:
            raise ParserUnavailable("The onnx parser needs a model file: set parse.onnx_model_path to an exported SCHP .onnx file.")
        path = Path(cfg.onnx_model_path)
        if not path.is_file():
            raise ParserUnavailable(f"Parser model {path} not found: set parse.onnx_model_path to an exported SCHP .onnx file.")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, cfg.onnx_threads)
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ParserUnavailable(f"Parser model {path} could not be loaded ({exc}); set parse.onnx_model_path to a valid .onnx file.") from exc
        self.cfg = cfg
        self.n_labels = len(LABEL_SETS[cfg.onnx_label_set])
        self._lut = mapping_lut(cfg.onnx_label_set)
        self._input = self._session.get_inputs()[0].name
        self._output = cfg.onnx_output or self._pick_output()
        self.name = onnx_parser_name(cfg)
        log.info("onnx parser loaded", model=str(path), output=self._output, labels=cfg.onnx_label_set)

    def _pick_output(self) -> str:
        outs = self._session.get_outputs()
        matching = [o.name for o in outs if len(o.shape) == 4 and o.shape[1] == self.n_labels]
        if not matching:
            shapes = {o.name: o.shape for o in outs}
            raise ParserUnavailable(
                f"No model output has {self.n_labels} channels ({shapes}); set parse.onnx_output or parse.onnx_label_set to match the model."
            )
        return matching[-1]

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        """Raw model logits (C x h x w) resampled to the input picture's size."""
        rgb = check_rgb(rgb)
        h, w = rgb.shape[:2]
        canvas, (bx, by, bw, bh) = letterbox_box(rgb, self.cfg.onnx_input_size, self.cfg.onnx_keep_aspect)
        if self.cfg.onnx_channel_order == "bgr":
            canvas = canvas[..., ::-1]
        x = canvas.astype(np.float32) / 255.0
        x = (x - np.array(self.cfg.onnx_mean, np.float32)) / np.array(self.cfg.onnx_std, np.float32)
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        (out,) = self._session.run([self._output], {self._input: x})
        out = np.asarray(out, dtype=np.float32)[0]
        in_h, in_w = self.cfg.onnx_input_size
        # Logits may come out at a fraction of the input size; map the content box.
        sy, sx = out.shape[1] / in_h, out.shape[2] / in_w
        crop = out[:, int(by * sy) : max(int(by * sy) + 1, round((by + bh) * sy)), int(bx * sx) : max(int(bx * sx) + 1, round((bx + bw) * sx))]
        chw = np.ascontiguousarray(crop.transpose(1, 2, 0))
        # cv2.resize handles up to 512 channels; bilinear logits like SCHP's upsampling.
        up = cv2.resize(chw, (w, h), interpolation=cv2.INTER_LINEAR)
        return up.reshape(h, w, -1).transpose(2, 0, 1)

    def parse(self, rgb: np.ndarray) -> np.ndarray:
        """HxW CIHP ids for an HxWx3 RGB picture."""
        rgb = check_rgb(rgb)
        native = np.argmax(self.logits(rgb), axis=0).astype(np.uint8)
        labels = self._lut[native]
        if self.cfg.fill_neck and self.cfg.onnx_label_set != "cihp":
            labels = fill_neck(labels, rgb)
        return labels

    def close(self) -> None:
        """Drop the session."""
        self._session = None
