"""Garment category (``upper_body``, ``lower_body``, ``dresses``) from words or from shape."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from pipeline.classify.config import CATEGORIES


def category_from_text(texts: Iterable[str | None], keywords: Mapping[str, Iterable[str]]) -> str | None:
    """First text (e.g. the product's category, then its name) that names a category wins.

    Within one text the keyword that ends last decides, because English puts the head
    noun last: "shirt dress" is a dress, "dress shirt" a shirt.
    """
    patterns = [
        (cat, re.compile(rf"(?<![a-z]){re.escape(word)}(?:e?s)?(?![a-z])"))
        for cat, words in keywords.items()
        for word in words
    ]
    for text in texts:
        if not text:
            continue
        lowered = str(text).strip().lower()
        if lowered in CATEGORIES:
            return lowered
        best: tuple[int, str] | None = None
        for cat, pattern in patterns:
            for match in pattern.finditer(lowered):
                if best is None or match.end() > best[0]:
                    best = (match.end(), cat)
        if best is not None:
            return best[1]
    return None


def _runs(row: np.ndarray) -> np.ndarray:
    """``[start, end)`` pairs of the foreground runs in one mask row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return edges.reshape(-1, 2)


def silhouette_features(mask: np.ndarray) -> dict[str, float]:
    """Shape measurements of a garment mask, relative to its bounding box."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return {"aspect": 0.0, "top_width": 0.0, "bottom_width": 0.0, "top_growth": 0.0, "legs": 0.0, "top_fill": 0.0}
    crop = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(bool)
    h, w = crop.shape

    def span(row: np.ndarray) -> float:
        idx = np.flatnonzero(row)
        return float(idx[-1] - idx[0] + 1) / w if len(idx) else 0.0

    def band(lo: float, hi: float) -> np.ndarray:
        return crop[int(lo * h) : max(int(lo * h) + 1, int(hi * h))]

    rim = float(np.median([span(r) for r in band(0.0, 0.04)]))
    top_spans = [(span(r), r.sum() / w) for r in band(0.03, 0.15)]
    top = float(np.median([s for s, _ in top_spans]))
    top_fill = float(np.median([filled / s if s else 0.0 for s, filled in top_spans]))
    shoulder = float(np.median([span(r) for r in band(0.13, 0.18)]))
    bottom = float(np.median([span(r) for r in band(0.85, 0.97)]))
    # Trousers and shorts: lower rows split into two wide runs around the middle.
    # Sleeves hanging beside a top also split rows, but off-centre or into three runs.
    leg_rows = 0
    lower = band(0.65, 0.95)
    for row in lower:
        runs = _runs(row)
        if len(runs) != 2:
            continue
        gap_mid = (runs[0, 1] + runs[1, 0]) / 2 / w
        widths = (runs[:, 1] - runs[:, 0]) / w
        leg_rows += int(0.3 <= gap_mid <= 0.7 and widths.min() >= 0.12 and (runs[1, 0] - runs[0, 1]) >= max(2, 0.02 * w))
    return {
        "aspect": h / w,
        "top_width": top,
        "bottom_width": bottom,
        # A waistband is as wide at the very top as a little lower; a neckline is not.
        "top_growth": shoulder / rim if rim else 0.0,
        "legs": leg_rows / max(1, len(lower)),
        # Share of the top rows' span the garment fills: a waistband is one solid band, while
        # straps, a halter or an open neckline leave most of the span empty.
        "top_fill": top_fill,
    }


# Taller than this (height / width) reads as a dress. VITON's tops run tall (tank tops and long
# tees reach 2.0): this is the 99th percentile of 994 garment shots of viton256/train, all tops,
# so at most 1 % of tops are taken for dresses. It was 1.45, which took 15 % of them.
DRESS_MIN_ASPECT = 1.95
# A waistband fills its rows (``top_fill``); two straps over a wide top fill a fraction. Rows are
# judged on the cut-out mask, whose seams and stitching leave small gaps, hence not 1.0.
WAISTBAND_MIN_FILL = 0.9
# Trousers' top rows are about as wide as the rows below; a top's shoulders are at least twice
# as wide as its neckline. Sleeves hanging beside a top split its lower rows like legs, so two
# legs count only below a top that does not grow that much.
LEGS_MAX_TOP_GROWTH = 2.0


def category_from_silhouette(mask: np.ndarray) -> tuple[str, dict[str, float]]:
    """Guess the category of a flat-laid or ghost-mannequin garment from its outline.

    Straight, solid waistband and two legs → ``lower_body``; straight waistband flaring out in
    a short shape (a skirt) → ``lower_body``; tall (``DRESS_MIN_ASPECT``) and at least as wide at the hem as
    at the top → ``dresses``; anything else (necklines, sleeves) → ``upper_body``.
    """
    f = silhouette_features(mask)
    waistband = f["top_growth"] < 1.25 and f["top_fill"] >= WAISTBAND_MIN_FILL
    if (f["legs"] >= 0.6 and f["top_growth"] < LEGS_MAX_TOP_GROWTH) or (waistband and f["legs"] >= 0.4):
        return "lower_body", f
    if waistband and f["top_width"] < 0.8 * f["bottom_width"] and f["aspect"] < 1.6:
        return "lower_body", f
    if f["aspect"] >= DRESS_MIN_ASPECT and f["bottom_width"] >= 0.9 * f["top_width"]:
        return "dresses", f
    return "upper_body", f
