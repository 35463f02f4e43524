"""fill_holes: enclosed background is filled, background reaching the border is not."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.binary_mask import fill_holes


def test_ring_is_filled_and_open_shape_is_not() -> None:
    ring = np.zeros((9, 9), np.uint8)
    ring[2:7, 2:7] = 1
    ring[4, 4] = 0
    assert fill_holes(ring)[4, 4] == 1
    cup = ring.copy()
    cup[4, 4:] = 0  # the hole now runs out to the border
    np.testing.assert_array_equal(fill_holes(cup), cup)


def test_same_as_scipy_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = (rng.random((40, 30)) > 0.45).astype(np.uint8)
        out = fill_holes(mask)
        assert out.dtype == np.uint8 and out.shape == mask.shape
        np.testing.assert_array_equal(out, ndimage.binary_fill_holes(mask).astype(np.uint8))
    assert fill_holes(np.ones((5, 5), bool)).all()
