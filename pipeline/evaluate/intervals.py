"""How far a mean over a few test pairs can be trusted: a 95 % bootstrap interval over the pairs.

The demo scores a handful of pairs; changing only a seed moved its figures more than the
experiments it was meant to compare. An interval beside each mean says how much of a difference
is noise. Percentile bootstrap (scipy), with a fixed seed so the same scores give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


def bootstrap_ci(values: Sequence[float | None], confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                 seed: int = 0) -> list[float] | None:
    """``[low, high]`` of the mean of ``values`` (Nones left out); None for fewer than 2 values."""
    from scipy.stats import bootstrap

    data = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if data.size < 2:
        return None
    if np.ptp(data) == 0:
        return [float(data[0]), float(data[0])]  # every pair scored the same: no spread to resample
    res = bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile",
                    random_state=np.random.default_rng(seed))
    return [round(float(res.confidence_interval.low), 6), round(float(res.confidence_interval.high), 6)]
