"""The bootstrap interval beside each evaluation mean."""

from __future__ import annotations

import numpy as np

from pipeline.evaluate.intervals import bootstrap_ci


def test_interval_holds_the_mean_and_narrows_with_more_pairs() -> None:
    rng = np.random.default_rng(1)
    few, many = rng.normal(0.8, 0.05, 5).tolist(), rng.normal(0.8, 0.05, 300).tolist()
    lo_f, hi_f = bootstrap_ci(few)
    lo_m, hi_m = bootstrap_ci(many)
    assert lo_f <= np.mean(few) <= hi_f and lo_m <= np.mean(many) <= hi_m
    assert hi_m - lo_m < (hi_f - lo_f) / 3
    assert bootstrap_ci(few) == [lo_f, hi_f]  # seeded: the same scores, the same interval


def test_interval_edge_cases() -> None:
    assert bootstrap_ci([0.5]) is None and bootstrap_ci([None, 0.5]) is None
    assert bootstrap_ci([0.7, 0.7, None, 0.7]) == [0.7, 0.7]
