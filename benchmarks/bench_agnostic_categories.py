"""Score the category-aware agnostic mask against a Dress Code folder's own label maps, per category.

For every person of ``<root>/{upper_body,lower_body,dresses}`` (Dress Code layout), the mask is
built from the authors' parse (mapped to CIHP) and keypoints with that folder's category, then
measured against the authors' labels (Dress Code ids):

* coverage: share of the worn garment's pixels the mask covers (upper 4; lower 5 skirt, 6 pants; dresses 7);
* keep: share of the face/head (11), the shoes (9, 10), the hands and the other garment (upper:
  5, 6; lower: 4) the mask leaves untouched. Hands are the arm pixels (14, 15) beyond the wrist
  along the forearm.

Nothing is fitted here: the rule's constants are the published VITON-HD / Dress Code ones.

  python benchmarks/bench_agnostic_categories.py ../shared/data/dresscode15
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.annotate.agnostic import AgnosticError, make_agnostic  # noqa: E402
from pipeline.annotate.body25 import L_ELBOW, L_WRIST, R_ELBOW, R_WRIST  # noqa: E402
from pipeline.annotate.parse.labels import to_cihp  # noqa: E402
from pipeline.dataset.importer import read_dresscode_keypoints  # noqa: E402
from pipeline.dataset.source_formats import list_pairs  # noqa: E402

WORN = {"upper_body": (4,), "lower_body": (5, 6), "dresses": (7,)}
OTHER = {"upper_body": (5, 6), "lower_body": (4,), "dresses": ()}
HEAD, SHOES, ARMS = (11,), (9, 10), (14, 15)


def hands(dc: np.ndarray, body25: np.ndarray) -> np.ndarray:
    """Arm pixels past the wrist along the elbow-to-wrist direction (Dress Code has no hand label)."""
    ys, xs = np.mgrid[0:dc.shape[0], 0:dc.shape[1]]
    out = np.zeros(dc.shape, bool)
    arms = np.isin(dc, ARMS)
    for elbow, wrist in ((R_ELBOW, R_WRIST), (L_ELBOW, L_WRIST)):
        if body25[elbow, 2] <= 0 or body25[wrist, 2] <= 0:
            continue
        e, w = body25[elbow, :2], body25[wrist, :2]
        d = w - e
        length = float(np.hypot(*d))
        if length < 1:
            continue
        t = ((xs - e[0]) * d[0] + (ys - e[1]) * d[1]) / length**2
        near = np.hypot(xs - w[0], ys - w[1]) < 1.2 * length
        out |= arms & (t > 1.0) & near
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="Dress Code layout folder")
    parser.add_argument("--split", default="test", help="pairs file split (dresscode15 ships pairs.txt = test)")
    args = parser.parse_args()
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    pairs = list(list_pairs(args.root, "dresscode", {args.split: (args.split,)}))
    for pair in tqdm(pairs, desc="agnostic", unit="person"):
        rgb = np.asarray(Image.open(pair.image).convert("RGB"))
        dc = np.asarray(Image.open(pair.parse))
        body = read_dresscode_keypoints(pair.pose, rgb.shape[1])
        try:
            mask = make_agnostic(rgb, to_cihp(dc, "atr"), body, category=pair.category).mask > 0
        except AgnosticError as exc:
            print(f"{pair.name}: skipped ({exc.reason})")
            continue
        s = sums[pair.category]
        worn = np.isin(dc, WORN[pair.category])
        if worn.any():
            s["coverage"].append(float(mask[worn].mean()))
        for part, region in (("head", np.isin(dc, HEAD)), ("shoes", np.isin(dc, SHOES)), ("hands", hands(dc, body)),
                             ("other_garment", np.isin(dc, OTHER[pair.category]))):
            if region.sum() >= 20:
                s[f"keep_{part}"].append(float(1 - mask[region].mean()))
    keys = ("coverage", "keep_head", "keep_hands", "keep_shoes", "keep_other_garment")
    print(f"{'category':<12}{'n':>4}" + "".join(f"{k:>20}" for k in keys) + f"{'keep (all parts)':>20}")
    for category in ("upper_body", "lower_body", "dresses"):
        s = sums.get(category)
        if not s:
            continue
        cells = "".join(f"{np.mean(s[k]):>20.4f}" if s.get(k) else f"{'n/a':>20}" for k in keys)
        keep_all = np.mean([v for k in keys[1:] for v in s.get(k, [])])
        print(f"{category:<12}{len(s['coverage']):>4}{cells}{keep_all:>20.4f}")


if __name__ == "__main__":
    main()
