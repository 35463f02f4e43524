"""Sort a folder of pictures into persons, garment shots and rejects, with the reason and the scores.

  vton classify DIR [--out labels.csv] [--recursive] [--params params.yaml]

Uses the classify stage's rule (the `classify:` block of --params, else its defaults). Without
--out it prints one line per picture: file, label, reason, category. With --out it writes a
CSV (file, label, reason, category, category_source, scores) and prints the counts.

Exit status: 0 when the folder was read (whatever the labels), 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton classify``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("dir", type=Path, help="folder of pictures")
    parser.add_argument("--out", type=Path, help="write a CSV here instead of printing a line per picture")
    parser.add_argument("--recursive", action="store_true", help="also look in sub-folders")
    parser.add_argument("--params", type=Path, help="a params.yaml whose classify: block sets the rule")


def run(args: argparse.Namespace) -> int:
    """Classify; see the module docstring for the output and the exit status."""
    if not args.dir.is_dir():
        sys.stderr.write(f"vton classify: {args.dir} is not a folder\n")
        return 2
    block = {}
    if args.params is not None:
        import yaml

        try:
            block = (yaml.safe_load(args.params.read_text(encoding="utf-8")) or {}).get("classify") or {}
        except (OSError, yaml.YAMLError) as exc:
            sys.stderr.write(f"vton classify: cannot read --params {args.params}: {exc}\n")
            return 2
    from pipeline.classify.config import ClassifyConfig
    from pipeline.classify.folder import classify_folder, write_csv

    try:
        cfg = ClassifyConfig.from_dict(block)
    except ValueError as exc:
        sys.stderr.write(f"vton classify: {exc}\n")
        return 2
    report = classify_folder(args.dir, cfg, recursive=args.recursive)
    if args.out is not None:
        write_csv(report, args.out)
        print(f"{report.summary()}; written to {args.out}")
    else:
        for row in report.rows:
            print("\t".join(str(row[k]) for k in ("file", "label", "reason", "category")))
        print(report.summary(), file=sys.stderr)
    return 0
