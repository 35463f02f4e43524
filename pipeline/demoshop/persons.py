"""Person photos wearing a demo garment.

The base photos are real portraits shipped inside installed packages. Their
clothes are re-rendered in the garment's colour and print (keeping the
photo's fabric shading), the backdrop is swapped for a studio tone, and each
product gets its own flip and framing so no two photos look alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipeline.demoshop.designs import GarmentDesign
from pipeline.demoshop.garment_region import PhotoAnalysis, analyse_photo
from pipeline.demoshop.prints import draw_logo, paste_logo, render_pattern

# Torso width relative to the distance between the shoulder joints.
BODY_PER_SHOULDER = 1.15

# Studio backdrop tones (sRGB), light and mid, warm and cool.
BACKDROPS: tuple[tuple[int, int, int], ...] = (
    (226, 226, 222),
    (236, 228, 214),
    (206, 216, 228),
    (232, 214, 214),
    (208, 222, 206),
    (160, 164, 170),
    (122, 132, 146),
    (188, 170, 150),
    (246, 244, 238),
    (90, 96, 104),
)


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


BASE_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "grace_hopper": _grace_hopper,
    "astronaut": _astronaut,
}


def load_base_photo(name: str) -> np.ndarray:
    """Return base photo ``name`` as ``HxWx3`` uint8 RGB (see ``BASE_LOADERS``)."""
    try:
        loader = BASE_LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown base photo {name!r}; known: {sorted(BASE_LOADERS)}") from None
    return loader()


def analyse_base_photo(name: str) -> PhotoAnalysis:
    """Load and analyse a base photo (callers cache the result per build)."""
    return analyse_photo(load_base_photo(name))


@dataclass(frozen=True)
class PersonVariant:
    """How one product's photo departs from its base photo."""

    base: str
    flip: bool
    zoom: float  # 1.0 = widest portrait crop the photo allows
    shift_x: float  # 0..1 across the allowed horizontal range
    shift_y: float  # 0..1 across the allowed vertical range
    backdrop: tuple[int, int, int]
    light_x: float  # where the backdrop's soft spotlight sits, 0..1
    gradient: float  # top-to-bottom backdrop falloff


def draw_variant(rng: np.random.Generator, base: str, flip: bool) -> PersonVariant:
    """Draw framing and backdrop for a photo of ``base``."""
    return PersonVariant(
        base=base,
        flip=flip,
        zoom=float(rng.uniform(1.0, 1.15)),
        shift_x=float(rng.uniform(0.0, 1.0)),
        shift_y=float(rng.uniform(0.0, 1.0)),
        backdrop=BACKDROPS[int(rng.integers(len(BACKDROPS)))],
        light_x=float(rng.uniform(0.15, 0.85)),
        gradient=float(rng.uniform(-0.25, 0.25)),
    )


def _backdrop(variant: PersonVariant, h: int, w: int) -> np.ndarray:
    tone = np.asarray(variant.backdrop, dtype=np.float32) / 255.0
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    spot = np.exp(-(((xs - variant.light_x) / 0.45) ** 2 + ((ys - 0.35) / 0.6) ** 2))
    gain = (0.88 + 0.18 * spot) * (1.0 + variant.gradient * (0.5 - ys))
    return np.clip(tone * gain[..., None], 0.0, 1.0)


def _logo_centre(analysis: PhotoAnalysis, target: tuple[float, float], radius: float) -> tuple[float, float]:
    """The point nearest ``target`` where a logo of ``radius`` sits fully on the garment."""
    inside = (analysis.garment > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    ys, xs = np.nonzero(dist >= radius)
    if len(xs) == 0:
        return target
    d2 = (xs - target[0]) ** 2 + (ys - target[1]) ** 2
    k = int(np.argmin(d2))
    return float(xs[k]), float(ys[k])


def _crop_box(analysis: PhotoAnalysis, variant: PersonVariant, aspect: float) -> tuple[int, int, int, int]:
    """A portrait crop (x0, y0, x1, y1) that keeps the face and both shoulders in frame."""
    h, w = analysis.image.shape[:2]
    ch = min(h, w / aspect) / variant.zoom
    cw = ch * aspect
    fx0, fy0, fx1, fy1 = analysis.face_box
    (sx0, _), (sx1, _) = analysis.shoulders
    margin = 0.15 * (fy1 - fy0)
    need_x0, need_x1 = min(fx0, sx0) - margin, max(fx1, sx1) + margin
    lo_x, hi_x = max(0.0, need_x1 - cw), min(w - cw, need_x0)
    x0 = lo_x + variant.shift_x * (hi_x - lo_x) if hi_x >= lo_x else (w - cw) / 2
    # Keep the top of the head (hat, hair) in frame when the crop allows it.
    rows = np.nonzero((analysis.person > 0.5).any(axis=1))[0]
    head_top = float(rows[0]) if len(rows) else fy0
    lo_y, hi_y = 0.0, min(h - ch, max(min(fy0, head_top) - margin, 0.0))
    y0 = lo_y + variant.shift_y * (hi_y - lo_y)
    x0 = float(np.clip(x0, 0, w - cw))
    y0 = float(np.clip(y0, 0, h - ch))
    return int(round(x0)), int(round(y0)), int(round(x0 + cw)), int(round(y0 + ch))


def render_person(
    design: GarmentDesign,
    analysis: PhotoAnalysis,
    variant: PersonVariant,
    width: int,
    height: int,
) -> Image.Image:
    """Re-dress the (already flipped, if wanted) base photo in ``design``; return ``width x height``."""
    img = analysis.image.astype(np.float32) / 255.0
    h, w = img.shape[:2]
    (ax, ay), (bx, by) = analysis.shoulders
    body = BODY_PER_SHOULDER * analysis.shoulder_width
    neck = ((ax + bx) / 2, (ay + by) / 2 - 0.15 * analysis.shoulder_width)

    tex = render_pattern(design, h, w, design.period * body, origin=neck)
    if design.print == "logo":
        size = 0.2 * body
        # Wearer's left chest is image-right on a front-facing photo, as on the flat shot.
        target = (neck[0] + 0.2 * body, neck[1] + 0.35 * body)
        paste_logo(tex, draw_logo(design, int(size)), _logo_centre(analysis, target, 0.55 * size))
    dressed = np.clip(tex * analysis.shading[..., None], 0.0, 1.0)
    g = analysis.garment[..., None]
    out = img * (1.0 - g) + dressed * g
    p = analysis.person[..., None]
    out = out * p + _backdrop(variant, h, w) * (1.0 - p)

    x0, y0, x1, y1 = _crop_box(analysis, variant, width / height)
    crop = np.clip(out[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(crop, "RGB").resize((width, height), Image.Resampling.LANCZOS)


def garment_mask(analysis: PhotoAnalysis, variant: PersonVariant, width: int, height: int) -> np.ndarray:
    """The re-dressed region (float 0..1) of :func:`render_person`'s output, same framing and size."""
    x0, y0, x1, y1 = _crop_box(analysis, variant, width / height)
    crop = np.ascontiguousarray(analysis.garment[y0:y1, x0:x1])
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
