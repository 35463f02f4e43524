"""The interface every parser backend offers."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class HumanParser(Protocol):
    """Turns an RGB picture into a map of CIHP label ids of the same size."""

    name: str

    def parse(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB in, HxW uint8 CIHP ids out."""
        ...

    def close(self) -> None:
        """Release native resources."""
        ...


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an input picture and return it as a contiguous uint8 HxWx3 array."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    if min(arr.shape[:2]) < 16:
        raise ValueError(f"picture too small to parse: {arr.shape[1]}x{arr.shape[0]}")
    return np.ascontiguousarray(arr)
