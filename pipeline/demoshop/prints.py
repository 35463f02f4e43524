"""Fabric prints (stripes, dots, checks, a chest logo) as flat colour textures.

The same functions texture the flat garment shot and the worn garment in a
person photo; only the pixel scale and origin differ, so both show one print.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pipeline.demoshop.designs import GarmentDesign


def _band(coord: np.ndarray, period: float, duty: float) -> np.ndarray:
    """Anti-aliased 0..1 band mask: 1 inside the first ``duty`` of each period."""
    phase = np.mod(coord, period)
    dist_in = np.minimum(phase, duty * period - phase)  # >0 inside the band
    dist = np.where(phase < duty * period, dist_in, -np.minimum(phase - duty * period, period - phase))
    return np.clip(dist + 0.5, 0.0, 1.0)


def render_pattern(
    design: GarmentDesign,
    height: int,
    width: int,
    period_px: float,
    origin: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Return an ``HxWx3`` float32 texture in 0..1 with the design's print.

    ``period_px`` is the repeat in pixels; ``origin`` (x, y) anchors the print so
    it starts at the same place on the garment whatever the framing.
    """
    base = np.asarray(design.colour, dtype=np.float32) / 255.0
    accent = np.asarray(design.accent, dtype=np.float32) / 255.0
    out = np.empty((height, width, 3), dtype=np.float32)
    out[:] = base
    if design.print in ("solid", "logo"):
        return out
    period_px = max(period_px, 4.0)
    ys = (np.arange(height, dtype=np.float32) - origin[1])[:, None]
    xs = (np.arange(width, dtype=np.float32) - origin[0])[None, :]
    if design.print == "stripes":
        mask = np.broadcast_to(_band(ys, period_px, design.duty), (height, width))
    elif design.print == "dots":
        # Staggered rows, the classic polka layout.
        # dx depends only on x and the row's parity, dy only on y: square them once.
        odd = (np.mod(np.floor(ys / period_px), 2) == 1)
        dx_even = (np.mod(xs, period_px) - 0.5 * period_px) ** 2
        dx_odd = (np.mod(xs + 0.5 * period_px, period_px) - 0.5 * period_px) ** 2
        dy = (np.mod(ys, period_px) - 0.5 * period_px) ** 2
        radius = 0.5 * design.duty * period_px
        mask = np.clip(radius + 0.5 - np.sqrt(np.where(odd, dx_odd, dx_even) + dy), 0.0, 1.0)
    elif design.print == "checks":
        # Gingham: half-strength where one band crosses, full where both do.
        h = _band(ys, period_px, 0.5)
        v = _band(xs, period_px, 0.5)
        mask = 0.5 * (h + v)
    else:
        raise ValueError(f"unknown print {design.print!r}")
    mask = mask[..., None].astype(np.float32)
    return out * (1.0 - mask) + accent * mask


def draw_logo(design: GarmentDesign, size: int) -> Image.Image:
    """Return a square RGBA chest graphic of ``size`` pixels in the accent colour."""
    size = max(int(size), 8)
    ss = 4  # supersampling for smooth edges
    s = size * ss
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    fill = tuple(design.accent) + (255,)
    w = max(s // 14, 2)
    shape = design.logo_shape
    if shape == "ring":
        d.ellipse((w, w, s - w, s - w), outline=fill, width=2 * w)
        d.ellipse((s * 0.32, s * 0.32, s * 0.68, s * 0.68), fill=fill)
    elif shape == "star":
        angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
        radii = np.where(np.arange(10) % 2 == 0, 0.48, 0.2) * s
        pts = [(s / 2 + r * np.cos(a), s / 2 + r * np.sin(a)) for r, a in zip(radii, angles)]
        d.polygon(pts, fill=fill)
    elif shape == "diamond":
        d.polygon([(s / 2, w), (s - w, s / 2), (s / 2, s - w), (w, s / 2)], outline=fill, width=2 * w)
        d.polygon([(s / 2, s * 0.3), (s * 0.7, s / 2), (s / 2, s * 0.7), (s * 0.3, s / 2)], fill=fill)
    elif shape == "wave":
        for k in range(3):
            y0 = s * (0.25 + 0.25 * k)
            xs = np.linspace(w, s - w, 40)
            pts = [(x, y0 + s * 0.08 * np.sin((x / s) * 2 * np.pi * 1.5)) for x in xs]
            d.line(pts, fill=fill, width=2 * w, joint="curve")
    elif shape == "letter":
        # A bold block "V" built from polygons, so no font file is needed.
        d.polygon([(w, w), (s * 0.3, w), (s / 2, s * 0.62), (s * 0.7, w), (s - w, w), (s / 2, s - w)], fill=fill)
    else:
        raise ValueError(f"unknown logo shape {shape!r}")
    return img.resize((size, size), Image.Resampling.LANCZOS)


def paste_logo(texture: np.ndarray, logo: Image.Image, centre: tuple[float, float]) -> None:
    """Alpha-blend ``logo`` into ``texture`` (float 0..1, in place) centred at ``centre`` (x, y)."""
    arr = np.asarray(logo, dtype=np.float32) / 255.0
    lh, lw = arr.shape[:2]
    x0 = int(round(centre[0] - lw / 2))
    y0 = int(round(centre[1] - lh / 2))
    h, w = texture.shape[:2]
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + lw, w), min(y0 + lh, h)
    if xa >= xb or ya >= yb:
        return
    patch = arr[ya - y0 : yb - y0, xa - x0 : xb - x0]
    alpha = patch[..., 3:4]
    region = texture[ya:yb, xa:xb]
    texture[ya:yb, xa:xb] = region * (1.0 - alpha) + patch[..., :3] * alpha
