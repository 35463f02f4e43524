"""Throughput and memory of the annotation chain (parse -> pose -> agnostic + cloth mask -> dataset) at 768x1024.

    python benchmarks/bench_annotation_chain.py [--images N] [--workers 1 2] [--growth]

Builds a scratch ``data/augment`` layout (persons from ../shared/data/persons
and garments from ../shared/data/garments when present, else scikit-image's
astronaut and a drawn garment, letterboxed to 768x1024) and runs the same jobs
the DVC stages run, through :func:`pipeline.annotate.parallel.run_items`.
Each (stage, workers) run is a fresh subprocess, so its peak memory
(the parent plus its largest worker, from ``getrusage``) and its time include
loading the models, as a stage run does. ``--growth`` repeats the chain with
twice the images to show whether memory stays flat as the data set grows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
SIZE = (768, 1024)
STAGES = ("parse", "pose", "agnostic", "dataset")


def _drawn_garment() -> Image.Image:
    w, h = SIZE
    img = Image.new("RGB", SIZE, (255, 255, 255))
    ImageDraw.Draw(img).polygon(
        [(0.3 * w, 0.15 * h), (0.7 * w, 0.15 * h), (0.92 * w, 0.32 * h), (0.8 * w, 0.42 * h), (0.72 * w, 0.36 * h),
         (0.72 * w, 0.85 * h), (0.28 * w, 0.85 * h), (0.28 * w, 0.36 * h), (0.2 * w, 0.42 * h), (0.08 * w, 0.32 * h)],
        fill=(40, 90, 160),
    )
    return img


def build_augment(root: Path, n: int) -> None:
    """Write ``n`` person/garment pairs into ``root/data/augment/train``."""
    persons = sorted((SHARED / "persons").iterdir()) if (SHARED / "persons").is_dir() else []
    garments = sorted((SHARED / "garments").iterdir()) if (SHARED / "garments").is_dir() else []
    if persons:
        person_imgs = [Image.open(p).convert("RGB") for p in persons]
    else:
        from skimage import data

        person_imgs = [Image.fromarray(data.astronaut())]
    garment_imgs = [Image.open(p).convert("RGB") for p in garments] or [_drawn_garment()]
    base = root / "data" / "augment" / "train"
    (base / "image").mkdir(parents=True, exist_ok=True)
    (base / "cloth").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        name = f"bench{i:05d}_00.jpg"
        ImageOps.pad(person_imgs[i % len(person_imgs)], SIZE, color=(255, 255, 255)).save(base / "image" / name, quality=95)
        ImageOps.pad(garment_imgs[i % len(garment_imgs)], SIZE, color=(255, 255, 255)).save(base / "cloth" / name, quality=95)
        lines.append(f"{name} {name}\n")
    (root / "data" / "augment" / "train_pairs.txt").write_text("".join(lines))


def run_stage(root: Path, stage: str, workers: int) -> dict[str, Any]:
    """Run one stage's jobs over ``root`` in this process; return timing and counts."""
    from pipeline.annotate.agnostic import AgnosticConfig
    from pipeline.annotate.cloth_mask import ClothMaskConfig
    from pipeline.annotate.agnostic_job import AgnosticJob, ClothMaskJob
    from pipeline.annotate.job_io import list_images
    from pipeline.annotate.parse_job import ParseJob
    from pipeline.annotate.pose_job import PoseJob
    from pipeline.annotate.parallel import run_items
    from pipeline.dataset.assemble import StageRoots, assemble_dataset

    data = root / "data"
    splits = ("train",)
    persons = list_images(data / "augment", splits)
    t0 = time.perf_counter()
    ok = 0
    skipped: dict[str, int] = {}
    stamps: list[float] = []
    if stage == "dataset":
        report = assemble_dataset(StageRoots(data / "augment", data / "parse", data / "pose", data / "agnostic"),
                                  data / "dataset", splits=splits, workers=workers, progress=False)
        ok = sum(report.pairs_out.values())
    else:
        if stage == "parse":
            from pipeline.annotate.parse import ParseConfig

            jobs = [(persons, ParseJob(ParseConfig(), data / "parse"))]
        elif stage == "pose":
            from pipeline.annotate.pose import PoseConfig

            jobs = [(persons, PoseJob(PoseConfig(), data / "pose"))]
        else:
            cloths = list_images(data / "augment", splits, "cloth")
            jobs = [
                (persons, AgnosticJob(AgnosticConfig(), data / "augment", data / "parse", data / "pose", data / "agnostic")),
                (cloths, ClothMaskJob(ClothMaskConfig(), data / "agnostic")),
            ]
        for items, factory in jobs:
            for r in run_items(items, factory, workers=workers, desc=stage, progress=False):
                stamps.append(time.perf_counter())
                ok += r.ok
                if not r.ok:
                    skipped[r.reason] = skipped.get(r.reason, 0) + 1
    seconds = time.perf_counter() - t0
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of this process and its workers (model loading included): unlike
    # wall time, it does not depend on what else the machine is running.
    cpu = sum(u.ru_utime + u.ru_stime for u in (usage_self, usage_children))
    self_kb = usage_self.ru_maxrss
    child_kb = usage_children.ru_maxrss
    # ru_maxrss of children is the largest single worker; the workers run side by side.
    peak_mb = (self_kb + child_kb * workers * (workers > 1)) / 1024
    # Steady rate: results after every worker has delivered its first one (models loaded).
    first = workers
    steady = (len(stamps) - first) / (stamps[-1] - stamps[first - 1]) if len(stamps) > first + 1 else float("nan")
    return {"seconds": seconds, "images": len(persons), "ok": ok, "peak_mb": peak_mb, "skipped": skipped, "steady": steady,
            "cpu_s": cpu}


def _subprocess(root: Path, stage: str, workers: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--_stage", stage, "--_root", str(root), "--workers", str(workers)],
        check=True, capture_output=True, text=True, cwd=REPO,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def chain(n: int, workers: int) -> dict[str, dict[str, Any]]:
    """Run every stage in turn on a fresh scratch folder of ``n`` images."""
    root = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    try:
        build_augment(root, n)
        return {stage: _subprocess(root, stage, workers) for stage in STAGES}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--growth", action="store_true", help="also run 2x the images and compare peak memory")
    parser.add_argument("--_stage", help=argparse.SUPPRESS)
    parser.add_argument("--_root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._stage:
        print(json.dumps(run_stage(Path(args._root), args._stage, args.workers[0])))
        return

    source = "shared/data persons + garments" if (SHARED / "persons").is_dir() else "skimage astronaut + drawn garment"
    print(f"annotation chain at {SIZE[0]}x{SIZE[1]}, {args.images} images ({source})")
    print("img/s = images / stage wall time (model loading included); steady = items/s once models are loaded")
    print("cpu/img = CPU seconds (all processes, model loading included) per person image; "
          "2/cpu = the img/s two otherwise idle cores would give")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'workers':>7} {'stage':<9} {'ok':>5} {'seconds':>8} {'img/s':>7} {'steady':>7} {'cpu/img':>8} {'peak MB':>8}")
    sizes = [args.images] + ([2 * args.images] if args.growth else [])
    for n in sizes:
        for workers in args.workers:
            results = chain(n, workers)
            total = 0.0
            cpu = 0.0
            peak = 0.0
            for stage, r in results.items():
                total += r["seconds"]
                cpu += r["cpu_s"]
                peak = max(peak, r["peak_mb"])
                skips = " ".join(f"{k}={v}" for k, v in r["skipped"].items())
                print(f"{workers:>7} {stage:<9} {int(r['ok']):>5} {r['seconds']:>8.2f} {n / r['seconds']:>7.2f} "
                      f"{r['steady']:>7.2f} {r['cpu_s'] / n:>8.3f} {r['peak_mb']:>8.0f}  {skips}")
            print(f"{workers:>7} {'CHAIN':<9} {n:>5} {total:>8.2f} {n / total:>7.2f} {'':>7} {cpu / n:>8.3f} {peak:>8.0f}"
                  f"   (n={n}; 2/cpu = {2 * n / cpu:.2f} img/s; load average after: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
