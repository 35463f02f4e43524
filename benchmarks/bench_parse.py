"""Human parser figures: images/s at the dataset size for 1 and 2 workers, and IoU on a folder.

    python benchmarks/bench_parse.py --folder ../shared/data/vitonhd_train16
    python benchmarks/bench_parse.py --folder ../shared/data/viton_test12 --parse-dir image-parse --reference-labels lip

The folder holds ``image/*.jpg`` and, for IoU, reference maps in ``<parse-dir>/<stem>.png``.
``--reference-labels lip``: the reference uses LIP ids, whose annotators leave the neck as
background, so predicted neck (10) is scored as background there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.annotate.parse import ParseConfig, build_parser, load_parse_png, to_cihp
from pipeline.annotate.parse.labels import CIHP_PALETTE, NECK
from pipeline.annotate.parse.metrics import EVAL_GROUPS, SIDED_GROUPS, IoUAccumulator

_PARSER = None


def _init(cfg_dict: dict) -> None:
    global _PARSER
    _PARSER = build_parser(ParseConfig.from_dict(cfg_dict))


def _parse_one(path: str) -> np.ndarray:
    rgb = np.array(Image.open(path).convert("RGB").resize((768, 1024)))
    return _PARSER.parse(rgb)  # type: ignore[union-attr]


def throughput(paths: list[str], cfg: dict, workers: int, n: int) -> float:
    """Images per second parsing ``n`` pictures (cycled from ``paths``) resized to 768x1024."""
    jobs = [paths[i % len(paths)] for i in range(n)]
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init, initargs=(cfg,)) as pool:
        pool.map(_parse_one, jobs[:workers])  # warm-up: model load and first inference
        t0 = time.perf_counter()
        pool.map(_parse_one, jobs, chunksize=1)
        return n / (time.perf_counter() - t0)


def colourise(labels: np.ndarray) -> np.ndarray:
    return np.array(CIHP_PALETTE, np.uint8)[labels]


def evaluate(folder: Path, parse_dir: str, cfg: dict, reference_labels: str, viz: Path | None) -> dict:
    """Per-group IoU of the parser against the folder's reference maps."""
    parser = build_parser(ParseConfig.from_dict(cfg))
    acc = IoUAccumulator()
    per_image = {}
    cpu_s: list[float] = []
    wall_s: list[float] = []
    for img_path in sorted((folder / "image").glob("*.jpg")):
        ref_path = folder / parse_dir / f"{img_path.stem}.png"
        if not ref_path.is_file():
            continue
        rgb = np.array(Image.open(img_path).convert("RGB"))
        ref = load_parse_png(ref_path)
        if reference_labels != "cihp":
            ref = to_cihp(ref, reference_labels)
        c0, w0 = time.process_time(), time.perf_counter()
        pred = parser.parse(rgb)
        cpu_s.append(time.process_time() - c0)
        wall_s.append(time.perf_counter() - w0)
        if reference_labels == "lip":
            pred = np.where(pred == NECK, 0, pred).astype(np.uint8)
        one = IoUAccumulator()
        one.add(pred, ref)
        acc.add(pred, ref)
        per_image[img_path.stem] = round(one.report()["mIoU"] or 0.0, 3)
        if viz is not None:
            viz.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([rgb, colourise(ref), colourise(pred)], axis=1)).save(viz / f"{img_path.stem}.jpg")
    parser.close()
    report = {k: (None if v is None else round(v, 4)) for k, v in acc.report().items()}
    sided = {k: (None if v is None else round(v, 4)) for k, v in acc.report({**EVAL_GROUPS, **SIDED_GROUPS}).items()}
    # CPU seconds (all threads) stay meaningful on a busy machine, where wall time does not.
    timing = {"median_cpu_s_per_image": round(float(np.median(cpu_s)), 3), "median_wall_s_per_image": round(float(np.median(wall_s)), 3)}
    return {"grouped": report, "sided": sided, "per_image_mIoU": per_image, "timing_at_input_size": timing}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vitonhd_train16")
    ap.add_argument("--parse-dir", default="image-parse-v3")
    ap.add_argument("--reference-labels", default="cihp", choices=("cihp", "lip", "atr"))
    ap.add_argument("--config", default="{}", help="ParseConfig fields as JSON")
    ap.add_argument("--speed-images", type=int, default=24, help="pictures per throughput run (0 skips it)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--skip-quality", action="store_true", help="only measure speed")
    ap.add_argument("--viz", type=Path, default=None, help="write image | reference | prediction strips here")
    args = ap.parse_args()
    cfg = json.loads(args.config)
    out: dict = {"config": cfg}
    if not (args.folder / "image").is_dir():
        raise SystemExit(f"{args.folder}/image not found: pass --folder with an image/ subfolder.")
    if not args.skip_quality:
        out["quality"] = evaluate(args.folder, args.parse_dir, cfg, args.reference_labels, args.viz)
    if args.speed_images > 0:
        paths = [str(p) for p in sorted((args.folder / "image").glob("*.jpg"))]
        out["images_per_s_768x1024"] = {
            int(w): round(throughput(paths, cfg, int(w), args.speed_images), 2) for w in args.workers.split(",")
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
