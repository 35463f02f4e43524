"""Check a try-on data set in the VITON-HD layout: presence, readability, sizes, labels, pose JSON, pairs.

Prints the coverage of every folder (files present / expected) and each problem;
exits 1 when anything is wrong, 0 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.dataset.layout import REQUIRED_FOLDERS, TRAINING_UNUSED_FOLDERS
from pipeline.dataset.validate import validate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton validate``."""
    parser.add_argument("root", help="data-set folder: <root>/{train,test}/... or a flat single split")
    parser.add_argument(
        "--allow-missing",
        action="append",
        default=[],
        choices=sorted(REQUIRED_FOLDERS),
        metavar="FOLDER",
        help="a folder the data set may lack (repeatable), e.g. agnostic-mask for the original VITON-HD release",
    )
    parser.add_argument(
        "--training",
        action="store_true",
        help=f"the folder is meant only for training: problems in {', '.join(TRAINING_UNUSED_FOLDERS)} "
        "(which training never reads) are warnings, not errors",
    )
    parser.add_argument("--quick", action="store_true", help="check presence and pairs only, do not decode files")
    parser.add_argument("--workers", type=int, default=4, help="threads decoding files (default 4)")
    parser.add_argument("--max-problems", type=int, default=50, help="problems listed in full (default 50)")


def run(args: argparse.Namespace) -> int:
    """Validate, print the report, return 1 on problems."""
    warn_only = TRAINING_UNUSED_FOLDERS if args.training else ()
    required = tuple(f for f in REQUIRED_FOLDERS if f not in set(args.allow_missing) and f not in warn_only)
    report = validate_dataset(args.root, required=required, check_content=not args.quick, workers=args.workers,
                              warn_only=warn_only)
    sys.stdout.write(report.format(max_problems=args.max_problems) + "\n")
    return 0 if report.ok else 1
