"""How close our annotations come to the reference annotations of a VITON-HD-layout folder.

    python benchmarks/bench_annotation_quality.py DIR [--limit N] [--json OUT] [--parse-config JSON] [--pose-config JSON] [--head-group]
        [--category upper_body|lower_body|dresses]

DIR is a VITON-HD-layout folder with reference annotations, flat (``DIR/image``)
or split (``DIR/train/image``, ``DIR/test/image``). Looked for in each split:

* ``image/``                                  person photos (required)
* ``openpose_json/`` or ``pose/``             reference keypoints, BODY_25 or COCO-18 (told apart by count)
* ``image-parse-v3/`` or ``image-parse/``     reference parse maps (palette, grey-level or colour PNG)
* ``agnostic-mask/``                          reference agnostic masks (``<stem>_mask.png``)
* ``cloth/`` + ``cloth-mask/``                garments and their reference masks

Printed: pose PCK@0.1 (threshold 0.1 × reference torso length, neck to
mid-hip; overall, per joint, images missed; hips refined with our own parse
map as the pose stage does, see :mod:`pipeline.annotate.hip_refine`, and the
unrefined figure beside it), parse IoU per evaluation group
and their mean (groups in :mod:`pipeline.quality.labels`), agnostic-mask IoU
from our parse + our pose and from the reference parse + reference pose (which
separates the masking rule from the annotators), and cloth-mask IoU (over the
garments our mask accepts; refusals, which the stage would skip, are counted by
reason and also scored as 0 in a second figure; a third figure leaves out the
reference masks that the import would repair as hollow or frame-filling, see
:func:`pipeline.dataset.importer.source_mask_defect`). A picture our chain fails on is
never left out: a missed pose scores no joint, a missed parse is scored as all
background, a missing agnostic as IoU 0. A missing
folder or a module that is not importable skips that metric with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.annotate.agnostic import AgnosticError  # noqa: E402
from pipeline.annotate.body25 import coco18_to_body25  # noqa: E402
from pipeline.annotate.openpose_format import read_openpose_json  # noqa: E402
from pipeline.annotate.parse.labels import NECK  # noqa: E402
from pipeline.annotate.parse.errors import NoPersonFound  # noqa: E402
from pipeline.dataset.layout import PairsFormatError, parse_category_pairs  # noqa: E402
from pipeline.quality.labels import (  # noqa: E402
    align_to_reference,
    group_ids,
    group_names,
    keypoint_names,
    load_binary_mask,
    load_label_map,
)
from pipeline.quality.metrics import PCKCounts, iou_counts, mask_iou, pck  # noqa: E402

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


@dataclass
class Split:
    """One folder holding ``image/`` and whatever reference annotations exist beside it."""

    root: Path

    def first(self, *names: str) -> Path | None:
        for name in names:
            if (self.root / name).is_dir():
                return self.root / name
        return None


def find_splits(root: Path) -> list[Split]:
    """Flat layout (``root/image``) or the ``train``/``test`` split folders that have ``image/``."""
    if (root / "image").is_dir():
        return [Split(root)]
    splits = [Split(root / s) for s in ("train", "test") if (root / s / "image").is_dir()]
    if not splits:
        raise SystemExit(f"{root} has neither image/ nor train/image or test/image")
    return splits


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)


def category_stems(root: Path, category: str) -> set[str]:
    """Stems of the persons and garments that the pairs files of ``root`` (``*pairs*.txt``: person cloth category) give ``category``."""
    stems: set[str] = set()
    files = sorted(root.glob("*pairs*.txt"))
    if not files:
        raise SystemExit(f"--category needs a pairs file with a category column in {root}")
    for path in files:
        try:
            pairs = parse_category_pairs(path.read_text(encoding="utf-8"), str(path))
        except PairsFormatError as exc:
            raise SystemExit(str(exc)) from None
        stems.update(Path(name).stem for person, cloth, cat in pairs if cat == category for name in (person, cloth))
    if not stems:
        raise SystemExit(f"no pair of category {category!r} in {', '.join(f.name for f in files)}")
    return stems


def load_rgb(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


@dataclass
class Report:
    notes: list[str] = field(default_factory=list)
    pck: dict[int, PCKCounts] = field(default_factory=dict)
    pck_unrefined: dict[int, PCKCounts] = field(default_factory=dict)
    pose_images: int = 0
    pose_missed: list[str] = field(default_factory=list)
    pose_unscorable: int = 0
    groups: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(zip(group_names(), group_ids())))
    parse_inter: np.ndarray = field(init=False)  # per group, sized from ``groups``
    parse_union: np.ndarray = field(init=False)
    parse_images: int = 0
    parse_missed: list[str] = field(default_factory=list)  # scored as all background
    agnostic_missed: list[str] = field(default_factory=list)  # no agnostic from our annotations: scored 0
    agnostic_ours: list[float] = field(default_factory=list)
    agnostic_ref: list[float] = field(default_factory=list)
    cloth: list[float] = field(default_factory=list)
    cloth_intact: list[float] = field(default_factory=list)  # only where the reference passes the import's repair check
    cloth_refused: dict[str, int] = field(default_factory=dict)  # reason -> garments the stage would skip
    errors: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parse_inter = np.zeros(len(self.groups), np.int64)
        self.parse_union = np.zeros(len(self.groups), np.int64)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, what: str, exc: BaseException) -> None:
        key = f"{what}: {type(exc).__name__}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def timed(self, what: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - t0


def _try_import(report: Report, what: str, loader: Callable[[], Any]) -> Any:
    try:
        return loader()
    except Exception as exc:  # a module being written elsewhere, or a missing model
        report.note(f"{what} skipped: {type(exc).__name__}: {str(exc)[:200]}")
        return None


def head_groups() -> dict[str, tuple[int, ...]]:
    """The evaluation groups with hair, face and neck scored as one ``head`` group.

    Dress Code's label maps give most hair, and all the skin above the garment's neckline, to
    their ``head`` label (imported as face): scored apart, a parser that finds the hair or the
    neck (CIHP 10, in no group of its own) loses for following the CIHP definition.
    """
    groups = dict(zip(group_names(), group_ids()))
    head = tuple(sorted(set(groups.pop("hair")) | set(groups.pop("face")) | {NECK}))
    return {"background": groups.pop("background"), "head": head, **groups}


def run(
    root: Path, limit: int | None, parse_config: dict[str, Any] | None = None, head_group: bool = False,
    pose_config: dict[str, Any] | None = None, only: set[str] | None = None,
) -> Report:
    """Score every sample of ``root`` (at most ``limit`` person images and ``limit`` garments).

    ``parse_config``: ``parse:`` params for the parser (default: the offline default).
    ``pose_config``: ``pose:`` params for the estimator (e.g. a ``refiner_model``; default: the defaults).
    ``head_group``: score hair, face and neck as one group (:func:`head_groups`).
    ``only``: score only the pictures with these stems (:func:`category_stems`).
    """
    report = Report(groups=head_groups()) if head_group else Report()
    splits = find_splits(root)

    from pipeline.annotate.hip_refine import refine_hips_with_parse
    from pipeline.annotate.pose import PoseConfig, PoseEstimator

    estimator = PoseEstimator(PoseConfig.from_dict(pose_config or {}))

    def load_parser() -> Any:
        from pipeline.annotate.parse import ParseConfig, build_parser

        return build_parser(ParseConfig.from_dict(parse_config or {}))

    def load_agnostic() -> Any:
        from pipeline.annotate.agnostic import make_agnostic

        return make_agnostic

    def load_cloth_mask() -> Any:
        from pipeline.annotate.cloth_mask import ClothMaskError, cloth_mask

        return cloth_mask, ClothMaskError

    mask_dirs = [s.first("agnostic-mask") for s in splits]
    # The pose stage refines hips with our parse, so the parser is needed whenever pose is scored.
    parser = _try_import(report, "parse", load_parser)
    make_agnostic = _try_import(report, "agnostic-mask IoU", load_agnostic) if any(mask_dirs) else None
    cloth_mask = refusal = None
    if any(s.first("cloth") and s.first("cloth-mask") for s in splits):
        cloth_mask, refusal = _try_import(report, "cloth-mask IoU", load_cloth_mask) or (None, None)

    n_person = 0
    for split in splits:
        pose_dir = split.first("openpose_json", "pose")
        parse_dir = split.first("image-parse-v3", "image-parse")
        mask_dir = split.first("agnostic-mask")
        for name, folder in (("pose PCK", pose_dir), ("parse mIoU", parse_dir), ("agnostic-mask IoU", mask_dir)):
            if folder is None:
                report.note(f"{name}: no reference folder in {split.root}")
        persons = [p for p in list_images(split.root / "image") if only is None or p.stem in only]
        for img_path in _progress(persons, f"persons {split.root.name}"):
            if limit is not None and n_person >= limit:
                break
            n_person += 1
            stem = img_path.stem
            rgb = load_rgb(img_path)
            ours = report.timed("pose", lambda: estimator.estimate(rgb))
            our_parse = ref_parse = None
            parse_failed = False
            if parser is not None:
                try:
                    our_parse = report.timed("parse", lambda: parser.parse(rgb))
                except Exception as exc:
                    parse_failed = True
                    if not isinstance(exc, NoPersonFound):  # finding nobody is a miss, not an error
                        report.error("parse", exc)
            body = None if ours is None else ours.body
            if body is not None and our_parse is not None and our_parse.shape == rgb.shape[:2]:
                body = refine_hips_with_parse(body, our_parse, estimator.config)
            ref_pose = None
            if pose_dir is not None:
                ref_path = pose_dir / f"{stem}_keypoints.json"
                _score_pose(report, report.pck_unrefined, ref_path, None if ours is None else ours.body, stem, count=False)
                ref_pose = _score_pose(report, report.pck, ref_path, body, stem)
            if parse_dir is not None and (parse_dir / f"{stem}.png").is_file():
                ref_parse = load_label_map(parse_dir / f"{stem}.png")
                scored = our_parse
                if parse_failed:
                    # A picture our parser fails on counts against it: scored as all background.
                    report.parse_missed.append(stem)
                    scored = np.zeros(ref_parse.shape, np.uint8)
                if scored is not None:
                    if scored.shape != ref_parse.shape:
                        report.error("parse", ValueError("shape mismatch"))
                    else:
                        inter, union = iou_counts(scored, ref_parse, list(report.groups.values()))
                        report.parse_inter += inter
                        report.parse_union += union
                        report.parse_images += 1
            if make_agnostic is not None and mask_dir is not None and (mask_dir / f"{stem}_mask.png").is_file():
                ref_mask = load_binary_mask(mask_dir / f"{stem}_mask.png")
                if our_parse is None or body is None or not _score_agnostic(
                    report, report.agnostic_ours, make_agnostic, rgb, our_parse, body, ref_mask
                ):
                    # The agnostic stage would skip this picture: it counts as IoU 0.
                    report.agnostic_ours.append(0.0)
                    report.agnostic_missed.append(stem)
                if ref_parse is not None and ref_pose is not None:
                    _score_agnostic(report, report.agnostic_ref, make_agnostic, rgb, ref_parse, ref_pose, ref_mask)
                elif ref_parse is None or ref_pose is None:
                    report.note("agnostic-mask IoU from reference annotations needs both reference parse and pose")

    estimator.close()
    if cloth_mask is not None:
        from pipeline.dataset.importer import ImportConfig, source_mask_defect

        repair_check = ImportConfig(source=str(root))
        n_cloth = 0
        for split in splits:
            cloth_dir, cmask_dir = split.first("cloth"), split.first("cloth-mask")
            if cloth_dir is None or cmask_dir is None:
                continue
            garments = [p for p in list_images(cloth_dir) if only is None or p.stem in only]
            for cpath in _progress(garments, f"garments {split.root.name}"):
                if limit is not None and n_cloth >= limit:
                    break
                ref = next((cmask_dir / f"{cpath.stem}{e}" for e in IMAGE_EXTS if (cmask_dir / f"{cpath.stem}{e}").is_file()), None)
                if ref is None:
                    continue
                n_cloth += 1
                try:
                    pred = report.timed("cloth-mask", lambda: cloth_mask(load_rgb(cpath))) > 127
                    reference = load_binary_mask(ref)
                    report.cloth.append(mask_iou(pred, reference))
                    if not source_mask_defect(reference, pred, repair_check):
                        report.cloth_intact.append(report.cloth[-1])
                except refusal as exc:  # a garment the stage would skip (two pieces, a busy backdrop)
                    report.cloth_refused[exc.reason] = report.cloth_refused.get(exc.reason, 0) + 1
                except Exception as exc:
                    report.error("cloth-mask", exc)
    return report


def _score_pose(
    report: Report, into: dict[int, PCKCounts], path: Path, ours: np.ndarray | None, stem: str, count: bool = True
) -> np.ndarray | None:
    """Add one image's PCK of BODY_25 ``ours`` to ``into``; returns the reference pose as BODY_25 (for the agnostic check).

    ``count`` False adds the PCK only (no image count, missed list or notes), for a second figure of the same images.
    """
    if not path.is_file():
        if not count:
            return None
        report.note(f"pose PCK: some images have no reference keypoints (e.g. {path.name})")
        return None
    try:
        ref = read_openpose_json(path)
    except (ValueError, json.JSONDecodeError) as exc:
        if count:
            report.error("reference pose", exc)
        return None
    if ref is None:
        return None
    k = ref.body.shape[0]
    pred = None if ours is None else align_to_reference(ours, k)
    try:
        counts = pck(pred, ref.body)
    except ValueError:
        if count:
            report.pose_unscorable += 1
        return None
    counts.names = keypoint_names(k)
    into[k] = into[k] + counts if k in into else counts
    if not count:
        return None
    report.pose_images += 1
    if ours is None:
        report.pose_missed.append(stem)
    return ref.body if k == 25 else coco18_to_body25(ref.body)


def _score_agnostic(
    report: Report, into: list[float], make_agnostic: Any, rgb: np.ndarray, parse: np.ndarray, body: np.ndarray, ref: np.ndarray
) -> bool:
    """Append the agnostic-mask IoU to ``into``; False when no agnostic could be made (``AgnosticError``: a skip)."""
    try:
        result = report.timed("agnostic", lambda: make_agnostic(rgb, parse, body))
    except Exception as exc:
        if not isinstance(exc, AgnosticError):
            report.error("agnostic", exc)
        return False
    into.append(mask_iou(np.asarray(result.mask) > 127, ref))
    return True


def _progress(items: list[Path], desc: str) -> Any:
    try:
        from tqdm import tqdm

        return tqdm(items, desc=desc, leave=False, file=sys.stderr)
    except ImportError:
        return items


def summarise(report: Report) -> dict[str, Any]:
    """Figures as a JSON-able dict."""
    out: dict[str, Any] = {"notes": report.notes, "errors": report.errors, "seconds": {k: round(v, 2) for k, v in report.seconds.items()}}
    if report.pck:
        hits = sum(int(c.hits.sum()) for c in report.pck.values())
        tot = sum(int(c.totals.sum()) for c in report.pck.values())
        hits_u = sum(int(c.hits.sum()) for c in report.pck_unrefined.values())
        tot_u = sum(int(c.totals.sum()) for c in report.pck_unrefined.values())
        out["pose"] = {
            "pck@0.1": round(hits / tot, 4) if tot else None,
            "pck@0.1_hips_unrefined": round(hits_u / tot_u, 4) if tot_u else None,
            "joints_scored": tot,
            "images": report.pose_images,
            "images_missed": len(report.pose_missed),
            "missed": report.pose_missed,
            "unscorable_references": report.pose_unscorable,
            "per_joint": {
                ("BODY_25" if k == 25 else "COCO_18"): {
                    name: (None if np.isnan(v) else round(float(v), 3)) for name, v in zip(c.names or [], c.per_joint())
                }
                for k, c in report.pck.items()
            },
        }
    if report.parse_images:
        with np.errstate(invalid="ignore", divide="ignore"):
            ious = np.where(report.parse_union > 0, report.parse_inter / np.maximum(report.parse_union, 1), np.nan)
        per = {n: (None if np.isnan(v) else round(float(v), 4)) for n, v in zip(report.groups, ious)}
        present = ious[~np.isnan(ious)]
        out["parse"] = {
            "images": report.parse_images, "images_missed": len(report.parse_missed), "missed": report.parse_missed,
            "iou": per, "miou": round(float(present.mean()), 4) if len(present) else None,
        }
    if report.agnostic_ours or report.agnostic_ref:
        out["agnostic_mask"] = {
            "iou_ours": _mean(report.agnostic_ours), "images_ours": len(report.agnostic_ours),
            "images_missed_ours": len(report.agnostic_missed), "missed_ours": report.agnostic_missed,
            "iou_reference_annotations": _mean(report.agnostic_ref), "images_reference": len(report.agnostic_ref),
        }
    if report.cloth or report.cloth_refused:
        refused = sum(report.cloth_refused.values())
        out["cloth_mask"] = {
            "iou": _mean(report.cloth),
            "images": len(report.cloth),
            "refused": dict(sorted(report.cloth_refused.items())),
            "iou_refused_as_zero": _mean(report.cloth + [0.0] * refused),
            "iou_intact_references": _mean(report.cloth_intact),
            "intact_references": len(report.cloth_intact),
        }
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def print_summary(root: Path, s: dict[str, Any]) -> None:
    print(f"annotation quality on {root}")
    pose = s.get("pose")
    if pose:
        unref = pose["pck@0.1_hips_unrefined"]
        print(f"  pose PCK@0.1      {pose['pck@0.1']:.4f}  (hips unrefined {'-' if unref is None else f'{unref:.4f}'}; "
              f"{pose['joints_scored']} joints, {pose['images']} images, "
              f"{pose['images_missed']} missed{': ' + ', '.join(pose['missed']) if pose['missed'] else ''})")
        for model, joints in pose["per_joint"].items():
            cells = [f"{n}={v:.2f}" for n, v in joints.items() if v is not None]
            print(f"    {model}: " + " ".join(cells))
    parse = s.get("parse")
    if parse:
        cells = " ".join(f"{n}={'-' if v is None else f'{v:.3f}'}" for n, v in parse["iou"].items())
        missed = f": {', '.join(parse['missed'])}" if parse["missed"] else ""
        print(f"  parse mIoU        {parse['miou']:.4f}  ({parse['images']} images, {parse['images_missed']} missed{missed}) {cells}")
    agn = s.get("agnostic_mask")
    if agn:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"  agnostic-mask IoU {fmt(agn['iou_ours'])} ours ({agn['images_ours']} images, {agn['images_missed_ours']} missed), "
              f"{fmt(agn['iou_reference_annotations'])} from reference parse+pose ({agn['images_reference']} images)")
    cloth = s.get("cloth_mask")
    if cloth:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        refused = ", ".join(f"{r} {n}" for r, n in cloth["refused"].items())
        more = f"; {sum(cloth['refused'].values())} refused as the stage would skip them ({refused}), " \
            f"{fmt(cloth['iou_refused_as_zero'])} counting those as 0" if refused else ""
        print(f"  cloth-mask IoU    {fmt(cloth['iou'])}  ({cloth['images']} garments{more})")
        print(f"  cloth-mask IoU    {fmt(cloth['iou_intact_references'])}  against the {cloth['intact_references']} "
              "references the import would not repair (hollow or frame-filling ones left out)")
    for note in s["notes"]:
        print(f"  note: {note}")
    for err, n in s["errors"].items():
        print(f"  errors: {err} x{n}")
    if s["seconds"]:
        print("  seconds: " + " ".join(f"{k}={v}" for k, v in s["seconds"].items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, help="VITON-HD-layout folder with reference annotations")
    ap.add_argument("--limit", type=int, default=None, help="score at most N person images and N garments")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    ap.add_argument("--parse-config", type=json.loads, default={},
                    help='parse: params as JSON, e.g. \'{"backend": "learned", "learned_model": "data/train_parse/model"}\'')
    ap.add_argument("--pose-config", type=json.loads, default={},
                    help='pose: params as JSON, e.g. \'{"refiner_model": "models/pose-refiner", "hem_pull_down": 0}\'')
    ap.add_argument("--head-group", action="store_true",
                    help="score hair, face and neck as one 'head' group (references whose head label covers the hair and neck: Dress Code)")
    ap.add_argument("--category", choices=("upper_body", "lower_body", "dresses"), default=None,
                    help="score only the pairs of this category (the pairs file's third column, as import_data writes it)")
    args = ap.parse_args(argv)
    only = category_stems(args.dir, args.category) if args.category else None
    report = run(args.dir, args.limit, args.parse_config, args.head_group, args.pose_config, only)
    summary = summarise(report)
    print_summary(args.dir, summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
