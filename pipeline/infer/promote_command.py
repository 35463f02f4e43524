"""Mark registered model versions as the ones to serve: ``vton promote 3`` sets the alias ``champion``.

  vton promote 3                 # vton-tom version 3 and vton-gmm version 3
  vton promote 5 --gmm 4         # when the GMM was registered under another number
  vton promote --show            # which versions carry the alias now

`vton tryon`, `vton serve` and `vton export-onnx` load the workspace's own model first
(data/train_tom/model), then the registered versions marked with the alias, then the shipped
model; the newest registered version is never taken on its own, since a queued or abandoned
experiment may have registered it.
"""

from __future__ import annotations

import argparse
import sys

ALIAS = "champion"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton promote``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("version", nargs="?", type=int, help="the vton-tom version to mark")
    parser.add_argument("--gmm", type=int, default=None, help="the vton-gmm version to mark (default: the same number)")
    parser.add_argument("--alias", default=ALIAS, help=f"the alias to set (default {ALIAS})")
    parser.add_argument("--tom-name", default="vton-tom")
    parser.add_argument("--gmm-name", default="vton-gmm")
    parser.add_argument("--show", action="store_true", help="print which versions carry the alias, change nothing")


def run(args: argparse.Namespace) -> int:
    """Set (or show) the alias; 0 on success, 1 when a version does not exist, 2 for wrong usage."""
    if args.version is None and not args.show:
        sys.stderr.write("vton promote: name a version (vton promote 3) or use --show\n")
        return 2
    from mlflow.exceptions import MlflowException

    from pipeline.infer.models import mlflow_client

    client = mlflow_client()
    if client is None:
        sys.stderr.write("vton promote: there is no MLflow store here yet (run `dvc repro` first)\n")
        return 1
    marks = [(args.tom_name, args.version), (args.gmm_name, args.gmm if args.gmm is not None else args.version)]
    if args.show:
        for name, _ in marks:
            try:
                v = client.get_model_version_by_alias(name, args.alias)
                sys.stdout.write(f"{name}: version {v.version} is {args.alias} (run {v.run_id})\n")
            except MlflowException:
                sys.stdout.write(f"{name}: no version is {args.alias}\n")
        return 0
    try:
        for name, version in marks:
            client.get_model_version(name, str(version))  # refuse a missing version before marking anything
    except MlflowException as exc:
        sys.stderr.write(f"vton promote: {str(exc).splitlines()[0]}\n")
        return 1
    for name, version in marks:
        client.set_registered_model_alias(name, args.alias, str(version))
        sys.stdout.write(f"{name}: version {version} is now {args.alias}\n")
    return 0
