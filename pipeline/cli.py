"""The ``vton`` command: one sub-command per user-facing tool.

Each sub-command lives in the module that does the work; this file only
registers them, so ``vton --help`` lists everything in one place.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from pipeline.log import configure_logging

# name -> (module, help). The module provides ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo-shop": ("pipeline.demoshop.command", "serve the embedded demo catalogue on 127.0.0.1"),
    "annotate": ("pipeline.annotate.command", "annotate your own photos into a VITON-HD layout folder"),
    "classify": ("pipeline.classify.command", "sort a folder into persons, garment shots and rejects (CSV)"),
    "validate": ("pipeline.dataset.validate_command", "check a VITON-HD-layout data set"),
    "serve": ("pipeline.api.command", "serve the try-on REST API (FastAPI; docs at /docs)"),
    "tryon": ("pipeline.infer.command", "dress a person in a garment (one pair or a folder)"),
    "weights": ("pipeline.weights_command", "list the packaged pretrained weights, or fetch optional ones (VGG19, torchvision AlexNet/VGG16, Inception)"),
    "export-onnx": ("pipeline.infer.export_command", "export the try-on models to ONNX and verify them"),
    "promote": ("pipeline.infer.promote_command", "mark registered model versions as the ones to serve (alias champion)"),
}


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (skipping ``--log-level X``), if any."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--log-level":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only the sub-command named in ``argv`` (all when None) gets its arguments.

    Command modules import torch, MediaPipe or FastAPI; importing only the chosen one keeps
    ``vton --help`` and a bad path's error fast.
    """
    chosen = None if argv is None else _chosen_command(argv)
    parser = argparse.ArgumentParser(prog="vton", description="Vesaki-VTON tools")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        if argv is not None and name != chosen:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(p)
        run: Callable[[argparse.Namespace], int] = module.run
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vton`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    configure_logging(args.log_level)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
