"""Export the try-on models (GMM and TOM) to ONNX, verified against torch with onnxruntime.

vton export-onnx --model data/train_tom/model --output models/onnx [--opset 17] [--size H W]

Writes OUTPUT/gmm.onnx, OUTPUT/tom.onnx and OUTPUT/engine.json; run them with
`vton tryon --model OUTPUT --backend onnx`. The batch axis is dynamic; height and width
are those of the model (or --size). Exit status 1 when no model is found or the ONNX
output differs from torch's by more than --tolerance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.log import get_logger

log = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton export-onnx``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", default="", help="models:/<name>/<version>, a model folder or file "
                        "(default: data/train_tom/model, else the registered champion, else the shipped model)")
    parser.add_argument("--gmm-model", default="", help="the warping module, when not next to the TOM")
    parser.add_argument("--output", type=Path, required=True, help="folder to write (replaced atomically)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17; grid_sample needs >= 16)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="export resolution (default: the model's own)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest allowed |onnx - torch| (default 1e-3)")


def run(args: argparse.Namespace) -> int:
    """Export and verify; returns the exit status."""
    from pipeline.infer.models import ModelNotFound, load_models
    from pipeline.infer.onnx_export import ParityError, export_onnx
    from pipeline.infer.types import EngineConfig

    if args.opset < 16:
        sys.stderr.write("vton export-onnx: --opset must be at least 16 (grid_sample)\n")
        return 2
    try:
        cfg = EngineConfig(model=args.model, gmm_model=args.gmm_model, device="cpu",
                           size=tuple(args.size) if args.size else None)
        models = load_models(cfg)
        manifest = export_onnx(models, args.output, opset=args.opset, tolerance=args.tolerance)
    except (ModelNotFound, ValueError, ParityError) as exc:
        log.error("export failed", error=str(exc))
        sys.stderr.write(f"vton export-onnx: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(manifest, indent=2) + "\n")
    return 0
