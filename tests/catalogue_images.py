"""Drawn garment shots and the bundled real photos, shared by the classify/augment tests and benchmark."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

TEE = [(220, 120), (260, 110), (300, 150), (340, 110), (380, 120), (500, 200), (460, 290), (420, 250),
       (420, 650), (180, 650), (180, 250), (140, 290), (100, 200)]
TROUSERS = [(190, 120), (410, 120), (440, 700), (320, 700), (300, 330), (280, 700), (160, 700)]
# A long dress: real dress shots stand about twice as tall as wide (tops reach 2.0, dresses more).
DRESS = [(240, 50), (260, 50), (270, 120), (330, 120), (340, 50), (360, 50), (370, 180), (350, 320),
         (450, 770), (150, 770), (250, 320), (230, 180)]


def draw_garment(polys: list[list[tuple[int, int]]], colour=(40, 90, 170), background: np.ndarray | None = None,
                 size=(600, 800), seed: int = 0) -> np.ndarray:
    """A flat garment shot: filled shapes with fabric-like noise and a darker seam on white."""
    w, h = size
    rng = np.random.default_rng(seed)
    canvas = np.full((h, w, 3), 255, np.uint8) if background is None else background.copy()
    mask = np.zeros((h, w), np.uint8)
    for poly in polys:
        cv2.fillPoly(mask, [np.array(poly, np.int32)], 1)
    fabric = np.clip(np.array(colour, np.float32) + rng.normal(0, 8, (h, w, 1)), 0, 255).astype(np.uint8)
    canvas[mask > 0] = fabric[mask > 0]
    for poly in polys:
        cv2.polylines(canvas, [np.array(poly, np.int32)], True, tuple(int(c * 0.6) for c in colour), 3)
    return canvas


def shifted(poly: list[tuple[int, int]], dx: int, dy: int, scale: float = 1.0) -> list[tuple[int, int]]:
    """The polygon scaled about the origin, then moved."""
    return [(int(x * scale + dx), int(y * scale + dy)) for x, y in poly]


def grace_hopper() -> np.ndarray:
    """matplotlib's sample portrait (waist-up, hips below the frame) as RGB."""
    import matplotlib.cbook as cbook

    return np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 RGB)."""
    from skimage import data

    return data.astronaut()
