"""Classify and augment throughput, and peak memory at 100 and 1000 catalogue items.

    python benchmarks/bench_classify_augment.py [--sizes 100 1000] [--workers 2] [--no-shared]

Builds a synthetic catalogue of 768x1024 JPEGs (half person photos made from the
grace_hopper / astronaut photos with random crops, flips and tints; half drawn garments
on white), one person and one garment per product, then times each stage in a fresh
process and reads that process's peak resident memory. Flat memory between sizes
means the stages stream images instead of holding them.

When ``../shared/data`` (real catalogue photos with known kind and category) is present,
it also prints how the classifier labels them: person/garment agreement, and the
garment category guessed from the silhouette alone (no product words).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.log import configure_logging  # noqa: E402
from tests.catalogue_images import DRESS, TEE, TROUSERS, astronaut, grace_hopper  # noqa: E402

W, H = 768, 1024


def person_photo(rng: np.random.Generator, bases: list[np.ndarray]) -> np.ndarray:
    base = bases[int(rng.integers(len(bases)))]
    h, w = base.shape[:2]
    scale = rng.uniform(0.8, 1.0)
    ch = int(h * scale)
    cw = min(w, int(ch * W / H))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = base[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    tint = rng.uniform(0.9, 1.1, 3)
    crop = np.clip(crop * tint, 0, 255).astype(np.uint8)
    return cv2.resize(np.ascontiguousarray(crop), (W, H), interpolation=cv2.INTER_AREA)


def garment_shot(rng: np.random.Generator) -> np.ndarray:
    poly = [TEE, TROUSERS, DRESS][int(rng.integers(3))]
    s = W / 600 * rng.uniform(0.85, 1.05)
    pts = np.array([(x * s + rng.uniform(-20, 20), y * s) for x, y in poly], np.int32)
    img = np.full((H, W, 3), 255, np.uint8)
    colour = tuple(int(c) for c in rng.integers(20, 200, 3))
    cv2.fillPoly(img, [pts], colour)
    noise = rng.normal(0, 6, (H, W, 1))
    mask = (img != 255).any(axis=2)
    img[mask] = np.clip(img[mask] + noise[mask], 0, 255).astype(np.uint8)
    cv2.polylines(img, [pts], True, tuple(int(c * 0.6) for c in colour), 3)
    return img


def build_catalogue(root: Path, n_items: int, seed: int = 0) -> Path:
    """``n_items`` images (n/2 products) under ``root/data/scrape`` with a manifest."""
    rng = np.random.default_rng(seed)
    bases = [grace_hopper(), astronaut()]
    images = root / "data" / "scrape" / "images"
    images.mkdir(parents=True, exist_ok=True)
    manifest = root / "data" / "scrape" / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "product_id", "product_name", "category", "image_index", "path"])
        for i in range(n_items):
            product, index = i // 2, i % 2
            img = person_photo(rng, bases) if index else garment_shot(rng)
            name = f"{i:016x}.jpg"
            Image.fromarray(img).save(images / name, quality=90)
            w.writerow(["bench", f"p{product:05d}", "", "", index, f"data/scrape/images/{name}"])
    return manifest


def run_stage(stage: str, root: str, workers: int) -> dict:
    """Run one stage in this process and return its figures (called in a child process)."""
    configure_logging("ERROR")
    root_p = Path(root)
    # Import only the stage measured: albumentations imports torch (~700 MiB of mapped
    # libraries), which would otherwise inflate the classify figure too.
    if stage == "classify":
        from pipeline.classify import ClassifyConfig, classify_manifest
    else:
        from pipeline.augment import AugmentConfig, augment_pairs
    import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if stage == "classify":
        m = classify_manifest(root_p / "data/scrape/manifest.csv", root_p / "data/classify", ClassifyConfig(), root=root_p)
        seconds = time.perf_counter() - started
        figures = {"images": m.items_in, "images_per_s": m.items_in / seconds, "labels": m.extra["labels"],
                   "pairs": m.extra["pairs"]}
    else:
        cfg = AugmentConfig(workers=workers)
        m = augment_pairs(root_p / "data/classify/pairs.csv", root_p / "data/augment", cfg, root=root_p)
        seconds = time.perf_counter() - started
        written = 2 * (m.extra["train_images"] + m.extra["test_images"])
        figures = {"pairs": m.items_in, "pairs_per_s": m.items_in / seconds, "images_written": written,
                   "images_written_per_s": written / seconds, "workers": workers}
    # Children (augment workers) are included once they have exited.
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"stage": stage, "seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1),
            "rss_after_imports_mib": round(import_rss, 1), **figures}


def shared_accuracy(folder: Path) -> dict:
    """Labels and silhouette categories on the shared real samples (persons/, garments/)."""
    from pipeline.classify import ClassifyConfig, ImageClassifier

    configure_logging("ERROR")
    wanted = {"upper": "upper_body", "lower": "lower_body", "dress": "dresses"}
    rows = list(csv.DictReader((folder / "manifest.csv").open()))
    counts = {"persons": 0, "persons_ok": 0, "garments": 0, "garments_ok": 0, "category_ok": 0}
    confusions: dict[str, int] = {}
    with ImageClassifier(ClassifyConfig()) as clf:
        for r in rows:
            kind = r["file"].split("/")[0]
            if kind not in ("persons", "garments"):
                continue
            verdict = clf.classify(np.asarray(Image.open(folder / r["file"]).convert("RGB")))
            if kind == "persons":
                counts["persons"] += 1
                counts["persons_ok"] += verdict.label == "person"
            else:
                counts["garments"] += 1
                counts["garments_ok"] += verdict.label == "garment"
                truth = wanted.get(r["category"], r["category"])
                counts["category_ok"] += verdict.category == truth
                if verdict.label == "garment" and verdict.category != truth:
                    key = f"{truth}->{verdict.category}"
                    confusions[key] = confusions.get(key, 0) + 1
    return {**counts, "silhouette_confusions": confusions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--workers", type=int, default=2, help="augment worker processes")
    parser.add_argument("--no-shared", action="store_true", help="skip the real-sample check")
    parser.add_argument("--child", nargs=3, metavar=("STAGE", "ROOT", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_stage(args.child[0], args.child[1], int(args.child[2]))))
        return
    shared = REPO.parent / "shared" / "data"
    if not args.no_shared and (shared / "manifest.csv").is_file():
        acc = shared_accuracy(shared)
        print(json.dumps({"shared_samples": acc}))
        print(f"real samples: persons {acc['persons_ok']}/{acc['persons']} labelled person, garments "
              f"{acc['garments_ok']}/{acc['garments']} labelled garment, silhouette category "
              f"{acc['category_ok']}/{acc['garments']} right")
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-ca-") as tmp:
            t = time.perf_counter()
            build_catalogue(Path(tmp), n)
            print(f"built {n} items in {time.perf_counter() - t:.1f}s", file=sys.stderr)
            for stage in ("classify", "augment"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", stage, tmp, str(args.workers)],
                    check=True, capture_output=True, text=True,
                )
                fig = {"items": n, **json.loads(out.stdout.strip().splitlines()[-1])}
                results.append(fig)
                print(json.dumps(fig))
    print("\nitems  stage     seconds  rate                          peak RSS (after imports)")
    for r in results:
        rate = f"{r['images_per_s']:.1f} images/s" if r["stage"] == "classify" else (
            f"{r['pairs_per_s']:.2f} pairs/s ({r['images_written_per_s']:.1f} img/s)")
        print(f"{r['items']:>5}  {r['stage']:<8} {r['seconds']:>8}  {rate:<29} {r['peak_rss_mib']} MiB "
              f"({r['rss_after_imports_mib']} MiB)")


if __name__ == "__main__":
    main()
