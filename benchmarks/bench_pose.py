"""Pose estimation speed at the dataset resolution (768x1024), with 1 and 2 worker processes.

    python benchmarks/bench_pose.py [--images N] [--workers 1 2] [--averaging default none]

Pictures come from ../shared/data/persons when present (padded to 768x1024),
otherwise from scikit-image's astronaut, padded and resized to 768x1024. Each
worker loads MediaPipe Holistic once (load time is reported apart) and runs
:meth:`PoseEstimator.estimate` with the default ``PoseConfig`` (second-person
check included), with the default test-time averaging (six passes: three pads,
each also mirrored) and with none, one pass (``--averaging``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "persons"
SIZE = (768, 1024)

_estimator = None


def _pictures(n: int) -> list[np.ndarray]:
    sources: list[Image.Image] = []
    if SHARED.is_dir():
        sources = [Image.open(p).convert("RGB") for p in sorted(SHARED.iterdir())[:n]]
    if not sources:
        from skimage import data

        sources = [Image.fromarray(data.astronaut())]
    pics = [np.array(ImageOps.pad(img, SIZE, color=(255, 255, 255))) for img in sources]
    return [pics[i % len(pics)] for i in range(n)]


def _init(averaging: bool) -> None:
    global _estimator
    from pipeline.annotate.pose import PoseConfig, PoseEstimator

    _estimator = PoseEstimator(PoseConfig() if averaging else PoseConfig(flip_average=False, average_pads=()))


def _estimate(rgb: np.ndarray) -> bool:
    assert _estimator is not None
    return _estimator.estimate(rgb) is not None


def bench(pictures: list[np.ndarray], workers: int, averaging: bool = True) -> tuple[float, float, int]:
    """(seconds to start the workers, images per second, people found)."""
    ctx = mp.get_context("spawn")
    t0 = time.perf_counter()
    with ctx.Pool(workers, initializer=_init, initargs=(averaging,)) as pool:
        pool.map(_estimate, pictures[:workers])  # warm-up: every worker has loaded its model
        t1 = time.perf_counter()
        found = pool.map(_estimate, pictures, chunksize=1)
        t2 = time.perf_counter()
    return t1 - t0, len(pictures) / (t2 - t1), sum(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--averaging", nargs="+", choices=["default", "none"], default=["default", "none"])
    args = ap.parse_args()
    pictures = _pictures(args.images)
    print(f"pose estimation, {len(pictures)} images at {SIZE[0]}x{SIZE[1]}, {mp.cpu_count()} CPUs")
    for averaging in args.averaging:
        for w in args.workers:
            start, rate, found = bench(pictures, w, averaging == "default")
            print(
                f"  averaging={averaging} workers={w}: {rate:.2f} images/s ({1 / rate:.3f} s/image wall), "
                f"start {start:.1f} s, people found {found}/{len(pictures)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
