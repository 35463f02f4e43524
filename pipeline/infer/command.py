"""Dress a person in a garment from two pictures, or a whole folder of pairs.

Single pair:  vton tryon --person p.jpg --garment g.jpg --output out.png [--model M] [--backend onnx]

Batch:  vton tryon --persons DIR --garments DIR --output-dir OUT [--pairs pairs.txt] [--batch-size 4]
  With --pairs, each line names ``person garment`` (file names inside --persons and --garments,
  the VITON test_pairs.txt format); without it every person is paired with every garment.
  Results are written as OUT/<person stem>__<garment stem>.png; a summary counts the failures
  by reason, and OUT/failures.csv lists them.

--model: a registered model URI (models:/vton-tom/latest), a model folder or file written by
training (data/train_tom/model), a folder written by `vton export-onnx`, or nothing for
the workspace's data/train_tom/model, else the registered version marked
champion (`vton promote`), else the model shipped in models/viton256. The log says which model answered.

Exit status: 0 when at least one pair was tried on, 1 when every pair failed (or the model
could not be loaded), 2 for wrong usage.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from pipeline.annotate.parse.learned_parser import learned_parse
from pipeline.annotate.pose_refiner import refiner_pose
from pipeline.categories import CATEGORIES
from pipeline.log import get_logger

log = get_logger(__name__)



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vton tryon``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    one = parser.add_argument_group("one pair")
    one.add_argument("--person", type=Path, help="photo of the person")
    one.add_argument("--garment", type=Path, help="in-shop photo of the garment (plain background)")
    one.add_argument("--output", type=Path, help="where to write the result (PNG or JPEG by suffix)")
    many = parser.add_argument_group("batch")
    many.add_argument("--persons", type=Path, help="folder of person photos")
    many.add_argument("--garments", type=Path, help="folder of garment photos")
    many.add_argument("--pairs", type=Path, help="'person garment' file names per line; default: every combination")
    many.add_argument("--output-dir", type=Path, help="folder for the results (created)")
    many.add_argument("--batch-size", type=int, default=4, help="pairs per model call (default 4)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="", help="models:/<name>/<version>, a model folder/file or an ONNX folder "
                       "(default: data/train_tom/model, else the registered champion, else the shipped models/viton256)")
    model.add_argument("--gmm-model", default="", help="the warping module, when not next to the TOM")
    model.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    model.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="model resolution (default: the model's own)")
    model.add_argument("--annotate-height", type=int, help="height pose/parse run at (default: model height, at least 512)")
    model.add_argument("--threads", type=int, default=0, help="CPU threads for the models (default: library default)")
    model.add_argument("--no-paste-back", action="store_true", help="use the model output everywhere, not only on the garment area")
    model.add_argument("--no-full-resolution", action="store_true",
                       help="upsample the model-size rendering instead of sampling the garment picture at the photo's size")
    parser.add_argument("--category", choices=CATEGORIES, default=None,
                        help="the garment's category (default: the model's own, or, for a model trained on several, "
                        "the garment's outline)")
    parser.add_argument("--save-warped", action="store_true", help="also write <output stem>_warped.png and _mask.png")
    parser.add_argument("--parse-model", type=Path, default=None,
                        help="parse the person with this train_parse model folder (parse.backend: learned) instead of the offline parser")
    parser.add_argument("--pose-refiner", type=Path, default=None,
                        help="move elbows, wrists and hips with this train_pose_refine model folder (pose.refiner_model)")


def _fail(message: str, status: int) -> int:
    # One line on stderr, not a log line as well: the log handler writes to stderr too.
    sys.stderr.write(f"vton tryon: {message}\n")
    return status


def _usage_error(parser_msg: str) -> int:
    return _fail(parser_msg, 2)


def _read_input(path: Path, what: str) -> "object":
    """The decoded picture at ``path``, or ``ImageRejected`` naming the file: checked before any model loads."""
    from pipeline.io.images import ImageRejected, load_image

    if not path.exists():
        raise ImageRejected("missing_file", f"the {what} image {path} does not exist")
    if not path.is_file():
        raise ImageRejected("not_a_file", f"the {what} image {path} is not a file")
    try:
        return load_image(path)
    except ImageRejected as exc:
        raise ImageRejected(exc.reason, f"the {what} image {path} cannot be used ({exc.reason}: {exc.detail})") from exc


def read_pairs_file(path: Path, persons: Path, garments: Path) -> list[tuple[Path, Path]]:
    """``(person, garment)`` paths from a pairs file (``person garment`` per line; blank lines skipped)."""
    pairs = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ValueError(f"{path}:{line_no}: expected 'person garment', got {line.strip()!r}")
        pairs.append((persons / parts[0], garments / parts[1]))
    return pairs


OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg")


def _save(img: "object", path: Path) -> None:
    from pipeline.io.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    with atomic_file(path, "wb") as fh:
        img.save(fh, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))  # type: ignore[attr-defined]


def _write_result(res: "object", output: Path, save_warped: bool) -> None:
    _save(res.image, output)  # type: ignore[attr-defined]
    if save_warped:
        _save(res.warped, output.with_name(f"{output.stem}_warped.png"))  # type: ignore[attr-defined]
        _save(res.mask, output.with_name(f"{output.stem}_mask.png"))  # type: ignore[attr-defined]


def run(args: argparse.Namespace) -> int:
    """Run one pair or a batch; see the module docstring for the exit status."""
    single = args.person is not None or args.garment is not None or args.output is not None
    batch = args.persons is not None or args.garments is not None or args.output_dir is not None
    if single == batch:
        return _usage_error("give either --person, --garment and --output, or --persons, --garments and --output-dir")
    if single and not (args.person and args.garment and args.output):
        return _usage_error("one pair needs --person, --garment and --output")
    if single and args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        # The bytes must be what the name says: a .gif or .webp holding PNG data breaks the viewer that trusts it.
        return _usage_error(f"--output {args.output}: the result is written as PNG or JPEG, so name it "
                            f"{', '.join(OUTPUT_SUFFIXES)}")
    if batch:
        if not (args.persons and args.garments and args.output_dir):
            return _usage_error("batch mode needs --persons, --garments and --output-dir")
        for folder in (args.persons, args.garments):
            if not folder.is_dir():
                return _usage_error(f"{folder} is not a folder")
        if args.pairs is not None and not args.pairs.is_file():
            return _usage_error(f"pairs file {args.pairs} does not exist")
        if args.batch_size < 1:
            return _usage_error("--batch-size must be at least 1")
    if single:
        from pipeline.io.images import ImageRejected

        try:
            person_img, garment_img = _read_input(args.person, "person"), _read_input(args.garment, "garment")
        except ImageRejected as exc:
            return _fail(exc.detail, 1)

    from tqdm import tqdm

    from pipeline.infer.engine import TryOnEngine
    from pipeline.infer.models import ModelNotFound
    from pipeline.infer.types import EngineConfig, TryOnError

    try:
        cfg = EngineConfig(model=args.model, gmm_model=args.gmm_model, backend=args.backend, device=args.device,
                           size=tuple(args.size) if args.size else None, annotate_height=args.annotate_height,
                           threads=args.threads, paste_back=not args.no_paste_back,
                           full_resolution=not args.no_full_resolution,
                           parse=learned_parse(args.parse_model), pose=refiner_pose(args.pose_refiner))
    except ValueError as exc:
        return _usage_error(str(exc))
    from pipeline.annotate.parse.errors import ParserUnavailable
    from pipeline.annotate.pose_refiner import PoseRefinerUnavailable

    try:
        engine = TryOnEngine.load(cfg)
    except (ModelNotFound, ValueError, ParserUnavailable, PoseRefinerUnavailable) as exc:
        return _fail(str(exc), 1)

    with engine:
        if single:
            try:
                res = engine.tryon(person_img, garment_img, args.category)
            except TryOnError as exc:
                return _fail(exc.message, 1)
            _write_result(res, args.output, args.save_warped)
            log.info("try-on written", output=args.output, model=engine.models.metadata.get("model"), **res.timings)
            return 0

        from pipeline.io.images import list_pictures

        try:
            if args.pairs is not None:
                pairs = read_pairs_file(args.pairs, args.persons, args.garments)
            else:
                pairs = [(p, g) for p in list_pictures(args.persons) for g in list_pictures(args.garments)]
        except (OSError, ValueError) as exc:
            return _usage_error(str(exc))
        if not pairs:
            return _usage_error("no pairs to try on (empty folders or pairs file)")
        failures: list[tuple[str, str, str, str]] = []
        done = 0
        with tqdm(total=len(pairs), desc="try-on", unit="pair") as bar:
            # Chunks bound memory: results are written as soon as their chunk finishes.
            chunk = max(args.batch_size, 1) * 4
            for start in range(0, len(pairs), chunk):
                part = pairs[start:start + chunk]
                for (person, garment), res in zip(part, engine.tryon_many(part, args.batch_size, progress=bar, category=args.category)):
                    if isinstance(res, TryOnError):
                        failures.append((str(person), str(garment), res.reason, res.message))
                        log.warning("pair failed", person=person, garment=garment, reason=res.reason, error=res.message)
                        continue
                    _write_result(res, args.output_dir / f"{person.stem}__{garment.stem}.png", args.save_warped)
                    done += 1
        from collections import Counter

        reasons = Counter(f[2] for f in failures)
        if failures:
            from pipeline.io.atomic import atomic_file

            with atomic_file(args.output_dir / "failures.csv", "w") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(["person", "garment", "reason", "message"])
                writer.writerows(failures)
        summary = f"tried on {done} of {len(pairs)} pairs; {len(failures)} failed"
        if reasons:
            summary += " (" + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) + ")"
        sys.stdout.write(summary + "\n")
        log.info("batch finished", pairs=len(pairs), ok=done, failed=len(failures), **{f"failed_{k}": v for k, v in reasons.items()})
        return 0 if done else 1
