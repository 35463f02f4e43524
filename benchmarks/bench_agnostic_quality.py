"""Agnostic and cloth-mask quality against the annotated samples in ../shared/data.

    python benchmarks/bench_agnostic_quality.py [--engines]

* agnostic-mask IoU and parse-agnostic pixel agreement on vitonhd_train16, built
  from the data set's own parse + pose (tests the rule itself);
* with ``--engines``: the same, built from this project's parser and pose
  estimator run on the photos (tests the whole annotation chain);
* cloth-mask IoU on vitonhd_train16 and viton_test12 (garments the mask
  refuses are listed with their reason and left out of the mean).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.annotate.agnostic import AgnosticConfig, AgnosticError, make_agnostic  # noqa: E402
from pipeline.annotate.cloth_mask import ClothMaskError, cloth_mask  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _summary(name: str, values: list[float]) -> None:
    if values:
        print(f"{name:<58} n={len(values):<3} mean={np.mean(values):.4f} min={np.min(values):.4f} max={np.max(values):.4f}")


def agnostic_quality(engines: bool) -> None:
    root = SHARED / "vitonhd_train16"
    configs = {"default (hands kept)": AgnosticConfig(), "VITON-HD exact (hands and hair greyed, no margin)": AgnosticConfig(keep_hands=False, keep_hair=False, cover_garment_margin=0)}
    parser = estimator = None
    if engines:
        from pipeline.annotate.parse import ParseConfig, build_parser
        from pipeline.annotate.pose import PoseEstimator

        parser, estimator = build_parser(ParseConfig()), PoseEstimator()
    ious: dict[str, list[float]] = {k: [] for k in configs}
    agree, e2e, e2e_parse = [], [], []
    for path in sorted((root / "image").glob("*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        parse = np.asarray(Image.open(root / "image-parse-v3" / f"{path.stem}.png"))
        doc = json.loads((root / "openpose_json" / f"{path.stem}_keypoints.json").read_text())
        kp = np.asarray(doc["people"][0]["pose_keypoints_2d"]).reshape(-1, 3)
        gt = np.asarray(Image.open(root / "agnostic-mask" / f"{path.stem}_mask.png").convert("L")) > 127
        gt_parse_agn = np.asarray(Image.open(root / "image-parse-agnostic-v3.2" / f"{path.stem}.png"))
        for name, cfg in configs.items():
            res = make_agnostic(rgb, parse, kp, cfg)
            ious[name].append(_iou(res.mask > 0, gt))
        agree.append(float((res.parse_agnostic == gt_parse_agn).mean()))
        if engines:
            ours_parse = parser.parse(rgb)
            pose = estimator.estimate(rgb)
            if pose is None:
                print(f"  {path.stem}: no pose found")
                continue
            try:
                e2e.append(_iou(make_agnostic(rgb, ours_parse, pose.body).mask > 0, gt))
                e2e_parse.append(_iou(make_agnostic(rgb, parse, pose.body).mask > 0, gt))
            except AgnosticError as exc:
                print(f"  {path.stem}: {exc}")
    for name, values in ious.items():
        _summary(f"agnostic-mask IoU, GT parse+pose, {name}", values)
    _summary("parse-agnostic pixel agreement, GT parse+pose", agree)
    if engines:
        _summary("agnostic-mask IoU, GT parse + our pose", e2e_parse)
        _summary("agnostic-mask IoU, our parse + our pose (default)", e2e)


def cloth_quality() -> None:
    for name in ("vitonhd_train16", "viton_test12"):
        root = SHARED / name
        ious = []
        for path in sorted((root / "cloth").glob("*.jpg")):
            gt = np.asarray(Image.open(root / "cloth-mask" / path.name).convert("L")) > 127
            try:
                ious.append(_iou(cloth_mask(np.asarray(Image.open(path).convert("RGB"))) > 0, gt))
            except ClothMaskError as exc:
                print(f"  {name}/{path.name}: refused ({exc.reason})")
        _summary(f"cloth-mask IoU, {name}", ious)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", action="store_true", help="also build the agnostic from our parser and pose")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} absent: nothing to measure")
        return
    agnostic_quality(args.engines)
    cloth_quality()


if __name__ == "__main__":
    main()
