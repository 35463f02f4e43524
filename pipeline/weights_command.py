"""List the pretrained weights the losses and metrics use, or fetch the optional downloadable ones.

  vton weights list                 the packaged weights (installed with the project: LPIPS AlexNet and
                                    VGG16, FID Inception), then the downloadable ones; what each enables
  vton weights fetch [vgg19|alexnet|vgg16|inception|all] [--dir DIR]

Files go to torch.hub's checkpoint folder (where the code looks by default) or to --dir (then
point the param named in `list` at the file). A cut download resumes when run again; a file
whose SHA-256 does not match the published one is refused and deleted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.packaged_weights import status as packaged_status
from pipeline.weights import WEIGHTS, FetchError, fetch, hub_checkpoints_dir, select, status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton weights``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", choices=("list", "fetch"))
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"for fetch: {', '.join(w.key for w in WEIGHTS)} or all (default all)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the files (default: torch.hub's checkpoints)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds without data before a download is cut")


def run(args: argparse.Namespace) -> int:
    """List, or fetch the named files; exit 1 when any fetch failed, 2 for unknown names."""
    folder = args.dir or hub_checkpoints_dir()
    if args.action == "list":
        for item, path, state in packaged_status():
            sys.stdout.write(f"{item.key:<13} {state:<8} {path or item.distribution + ' is not installed'}\n"
                             f"{'':<13} packaged in {item.distribution}, SHA-256 {item.sha256[:16]}...; "
                             f"enables {item.enables}\n")
        for entry, path, present in status(folder):
            sys.stdout.write(f"{entry.key:<10} {'present' if present else 'missing':<8} {path}\n"
                             f"{'':<10} enables {entry.enables}\n")
        return 0
    try:
        wanted = select(args.names)
    except ValueError as exc:
        sys.stderr.write(f"vton weights: {exc}\n")
        return 2
    failed = 0
    for entry in wanted:
        try:
            path = fetch(entry, folder, timeout_s=args.timeout)
        except FetchError as exc:
            sys.stderr.write(f"vton weights: {exc}\n")
            failed += 1
            continue
        sys.stdout.write(f"{entry.key}: {path}\n")
    return 1 if failed else 0
