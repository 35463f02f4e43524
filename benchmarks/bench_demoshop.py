"""How long the embedded demo shop takes to build, and how it scales with the catalogue size.

Prints wall and CPU seconds, renders (re-draws for uniqueness included) and the
closest perceptual-hash distance between two distinct images, for a few sizes.
Each build runs fresh (no in-process cache).

    .venv/bin/python benchmarks/bench_demoshop.py [--sizes 8 24 48]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import imagehash
    from PIL import Image

    from pipeline.demoshop import DemoShopConfig, build_catalog

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 24, 48])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'products':>8} {'images':>6} {'wall_s':>7} {'cpu_s':>6} {'renders':>7} {'min_phash':>9}")
    for n in args.sizes:
        cat = build_catalog.__wrapped__(DemoShopConfig(seed=args.seed, products=n))
        hashes = {k: imagehash.phash(Image.open(io.BytesIO(v))) for k, v in cat.images.items()}
        digest = {k: hashlib.sha256(v).digest() for k, v in cat.images.items()}
        closest = min(
            (hashes[a] - hashes[b] for a, b in itertools.combinations(hashes, 2) if digest[a] != digest[b]),
            default=64,
        )
        print(
            f"{n:>8} {len(cat.images):>6} {cat.build_seconds:>7.1f} {cat.cpu_seconds:>6.1f} "
            f"{cat.renders:>7} {closest:>9}"
        )


if __name__ == "__main__":
    main()
