"""How often classify labels real pictures right: persons, garment shots and their categories.

    python benchmarks/bench_classify_folders.py [--shared ../shared/data] [--limit N] [--set NAME ...]

Sets (each picture's expected label from where it lies; categories where the source gives them):

* ``persons``: ``persons/`` (all persons);
* ``garments``: ``garments/`` (all garments; category from ``manifest.csv``);
* ``dresscode15``: ``<category>/images/*_0`` persons, ``*_1`` garments of that category;
* ``viton256_val``: ``val/image`` persons, ``val/cloth`` garments (VITON sells tops: upper_body);
* ``viton256_train``: the same for ``train`` (``--limit`` of each): the set any constant of the
  rule is fitted on, so the others stay unseen.

Prints, per set: pictures, label accuracy, category accuracy over the garments with a known
category, and every miss with its reason and scores.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.classify.config import ClassifyConfig  # noqa: E402
from pipeline.classify.verdict import GARMENT, PERSON, ImageClassifier  # noqa: E402
from pipeline.io.images import load_image, to_rgb_array  # noqa: E402

Item = tuple[Path, str, str]  # picture, expected label, expected category ("" = unknown)
MANIFEST_CATEGORY = {"upper": "upper_body", "lower": "lower_body", "dress": "dresses"}


def _jpgs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if folder.is_dir() else []


def items(shared: Path, name: str, limit: int | None) -> Iterator[Item]:
    """The pictures of set ``name`` with what they should be labelled."""
    if name == "persons":
        yield from ((p, PERSON, "") for p in _jpgs(shared / "persons"))
    elif name == "garments":
        cats: dict[str, str] = {}
        manifest = shared / "manifest.csv"
        if manifest.is_file():
            with manifest.open(encoding="utf-8") as f:
                cats = {r["file"]: MANIFEST_CATEGORY.get(r["category"], "") for r in csv.DictReader(f)}
        yield from ((p, GARMENT, cats.get(f"garments/{p.name}", "")) for p in _jpgs(shared / "garments"))
    elif name == "dresscode15":
        for category in ("upper_body", "lower_body", "dresses"):
            for p in _jpgs(shared / "dresscode15" / category / "images"):
                yield (p, PERSON, "") if p.stem.endswith("_0") else (p, GARMENT, category)
    elif name.startswith("viton256_"):
        split = shared / "viton256" / name.removeprefix("viton256_")
        yield from ((p, PERSON, "") for p in _jpgs(split / "image")[:limit])
        yield from ((p, GARMENT, "upper_body") for p in _jpgs(split / "cloth")[:limit])
    else:
        raise SystemExit(f"unknown set {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--limit", type=int, default=None, help="at most N persons and N garments of a viton256 split")
    ap.add_argument("--set", dest="sets", nargs="*",
                    default=["persons", "garments", "dresscode15", "viton256_val"])
    ap.add_argument("--verbose", action="store_true", help="also print the scores of each miss")
    args = ap.parse_args()
    if not args.shared.is_dir():
        raise SystemExit(f"{args.shared} is missing: these figures need the shared data")
    from tqdm import tqdm

    with ImageClassifier(ClassifyConfig()) as clf:
        for name in args.sets:
            todo = list(items(args.shared, name, args.limit))
            right = cat_right = cat_known = 0
            misses: list[str] = []
            t0 = time.perf_counter()
            for path, label, category in tqdm(todo, desc=name, leave=False, file=sys.stderr):
                verdict = clf.classify(to_rgb_array(load_image(path)), ())
                ok = verdict.label == label
                right += ok
                if not ok:
                    scores = f" {verdict.scores}" if args.verbose else ""
                    misses.append(f"    {path.relative_to(args.shared)}: {verdict.label} {verdict.reason}{scores}")
                if label == GARMENT and category:
                    cat_known += 1
                    got = verdict.category if ok else ""
                    cat_right += got == category
                    if ok and got != category:
                        misses.append(f"    {path.relative_to(args.shared)}: category {got or '-'} (is {category})")
            seconds = time.perf_counter() - t0
            n = len(todo)
            cat = f"{cat_right}/{cat_known} = {cat_right / cat_known:.3f}" if cat_known else "-"
            print(f"{name:16s} {n:5d} pictures  label right {right}/{n} = {right / max(n, 1):.3f}  "
                  f"category right {cat}  ({n / max(seconds, 1e-9):.1f} img/s)")
            for line in misses:
                print(line)


if __name__ == "__main__":
    main()
