"""Annotate your own photos into a VITON-HD / HR-VITON layout folder, for this project or any try-on code.

  vton annotate --persons photos/ [--garments shop/] [--pairs pairs.txt | --categories cats.csv | --category dresses] --out DATA

Writes DATA/<split>/{image, image-parse-v3, openpose_json, openpose_img, agnostic-v3.2,
agnostic-mask, image-parse-agnostic-v3.2, cloth, cloth-mask} and DATA/<split>_pairs.txt
("person garment category" per line), with the same code as the DVC stages. Without --pairs
the n-th person (sorted by name) is paired with the n-th garment. A garment's category comes
from the pairs file's third column, else --categories (CSV garment,category), else --category,
else its outline. Pictures that cannot be used are listed in DATA/failures.csv with the step
and the reason; the rest are written. A second run skips what is already there.
`vton validate DATA` checks the result.

The learned parser and the pose refiner are chosen in this order: --parse-model / --pose-refiner;
the pipeline's own (data/train_parse/model, data/train_pose_refine/model); the ones shipped in
models/viton256 (trained on VITON's thigh-cut photos: on full-body photos the offline parser is
better, docs/annotation.md). --offline-parser uses neither. The summary line says which ran.

Exit status: 0 when at least one person was annotated, 1 when none was, 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.annotate.parse.learned_parser import learned_parse
from pipeline.annotate.pose_refiner import refiner_pose
from pipeline.categories import CATEGORIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton annotate``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--persons", type=Path, required=True, help="folder of person photos")
    parser.add_argument("--garments", type=Path, help="folder of in-shop garment shots (plain background)")
    parser.add_argument("--pairs", type=Path, help="'person garment [category]' per line (file names in the two folders)")
    parser.add_argument("--categories", type=Path, help="CSV 'garment,category' (category of each garment)")
    parser.add_argument("--category", choices=CATEGORIES, help="one category for every garment")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; reused by a second run)")
    parser.add_argument("--split", default="test", help="split folder written under --out (default test)")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(1024, 768),
                        help="height and width every picture is letterboxed to (default 1024 768, VITON-HD's)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per step (default 1)")
    parser.add_argument("--parse-model", type=Path, default=None,
                        help="parse with this train_parse model folder (parse.backend: learned) instead of the offline parser")
    parser.add_argument("--pose-refiner", type=Path, default=None,
                        help="move elbows, wrists and hips with this train_pose_refine model folder (pose.refiner_model)")
    parser.add_argument("--offline-parser", action="store_true",
                        help="parse with the offline MediaPipe parser and no refiner, not the pipeline's or shipped models")


PIPELINE_PARSER, PIPELINE_REFINER = Path("data/train_parse/model"), Path("data/train_pose_refine/model")


def annotation_models(parse_model: Path | None, pose_refiner: Path | None, offline: bool,
                      shipped_root: Path | None = None) -> tuple[Path | None, Path | None, str]:
    """(parser folder, refiner folder, where they came from): the given ones, else the pipeline's own, else the shipped ones."""
    if offline:
        return None, None, "the offline parser, no refiner (--offline-parser)"
    if parse_model is not None or pose_refiner is not None:
        return parse_model, pose_refiner, "the models given on the command line"
    if (PIPELINE_PARSER / "parser.onnx").is_file():
        refiner = PIPELINE_REFINER if (PIPELINE_REFINER / "refiner.onnx").is_file() else None
        return PIPELINE_PARSER, refiner, f"the pipeline's own ({PIPELINE_PARSER}{', ' + str(refiner) if refiner else ''})"
    from pipeline.shipped_model import USE_NOTE, find_shipped

    shipped = find_shipped(shipped_root)
    if shipped is not None and shipped.parser is not None:
        return shipped.parser, shipped.pose_refiner, f"the shipped parser and refiner in {shipped.root} ({USE_NOTE})"
    return None, None, "the offline parser (no learned parser found)"


def run(args: argparse.Namespace) -> int:
    """Annotate; print a summary line; see the module docstring for the exit status."""
    from pipeline.annotate.folder import AnnotateConfig, annotate_folder
    from pipeline.annotate.parallel import WorkerInitError

    for flag, path in (("--persons", args.persons), ("--garments", args.garments)):
        if path is not None and not path.is_dir():
            sys.stderr.write(f"vton annotate: {flag} {path} is not a folder\n")
            return 2
    for flag, path in (("--pairs", args.pairs), ("--categories", args.categories)):
        if path is not None and not path.is_file():
            sys.stderr.write(f"vton annotate: {flag} {path} does not exist\n")
            return 2
    try:
        parse_model, pose_model, chosen = annotation_models(args.parse_model, args.pose_refiner, args.offline_parser)
        cfg = AnnotateConfig(persons=args.persons, garments=args.garments, pairs=args.pairs, categories=args.categories,
                             category=args.category, out=args.out, split=args.split, workers=args.workers,
                             size=(int(args.size[0]), int(args.size[1])), parse=learned_parse(parse_model),
                             pose=refiner_pose(pose_model))
        report = annotate_folder(cfg)
    except (ValueError, FileNotFoundError) as exc:
        sys.stderr.write(f"vton annotate: {exc}\n")
        return 2
    except WorkerInitError as exc:
        sys.stderr.write(f"vton annotate: the annotators could not start ({exc})\n")
        return 1
    people = report.written.get("agnostic", 0) + report.reused.get("agnostic", 0)
    sys.stdout.write(f"annotated {people} persons, {report.pairs} pairs into {args.out}; "
                     f"{len(report.failures)} failures listed in {args.out / 'failures.csv'}; parsed with {chosen}\n")
    return 0 if people else 1
