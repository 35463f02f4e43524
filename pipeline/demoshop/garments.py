"""In-shop garment shots: one garment laid flat on a plain light background.

The silhouette is built from a few polygons per kind (body, sleeves, neck,
bands), textured with the design's print and shaded with soft folds, edge
fall-off, seams and a drop shadow so it reads as fabric rather than a flat cut-out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from pipeline.demoshop.designs import GarmentDesign
from pipeline.demoshop.prints import draw_logo, paste_logo, render_pattern

Point = tuple[float, float]


@dataclass
class Layout:
    """Garment geometry in pixels: ``B`` is the body width, (cx, top) the neck centre."""

    cx: float
    top: float
    B: float
    sleeve_angle: float
    flare: float
    length: float

    def p(self, u: float, v: float) -> Point:
        """Map garment units (multiples of the body width, origin at the neck centre) to pixels."""
        return (self.cx + u * self.B, self.top + v * self.B)


@dataclass
class Shapes:
    """Polygons (in pixels) of the garment parts, drawn in order."""

    back: list[list[Point]] = field(default_factory=list)  # behind the body (hood)
    body: list[list[Point]] = field(default_factory=list)
    inner: list[list[Point]] = field(default_factory=list)  # inside visible through the neck
    bands: list[list[Point]] = field(default_factory=list)  # rib cuffs, hems, collars
    seams: list[list[Point]] = field(default_factory=list)  # polylines
    buttons: list[Point] = field(default_factory=list)
    strings: list[list[Point]] = field(default_factory=list)


def _arc(a: Point, b: Point, sag: float, n: int = 12) -> list[Point]:
    """Points on a smooth curve from ``a`` to ``b`` bowing ``sag`` pixels downwards."""
    out = []
    for t in np.linspace(0.0, 1.0, n):
        x = a[0] + (b[0] - a[0]) * t
        y = a[1] + (b[1] - a[1]) * t + sag * 4 * t * (1 - t)
        out.append((float(x), float(y)))
    return out


def _mirror(lay: Layout, pts: list[Point]) -> list[Point]:
    return [(2 * lay.cx - x, y) for x, y in pts]


def _sleeve(lay: Layout, shoulder: Point, armpit: Point, long: bool) -> tuple[list[Point], list[Point]]:
    """Left sleeve polygon and its cuff band (pixels)."""
    a = np.deg2rad(lay.sleeve_angle)
    direction = np.array([-np.cos(a), np.sin(a)])
    perp = np.array([np.sin(a), np.cos(a)])
    length = (0.95 if long else 0.36) * lay.B
    opening = (0.17 if long else 0.25) * lay.B
    s = np.array(shoulder)
    outer = s + direction * length
    inner = outer + perp * opening
    sleeve = [tuple(s), tuple(outer), tuple(inner), tuple(armpit)]
    band_len = (0.09 if long else 0.04) * lay.B
    o2 = outer - direction * band_len
    i2 = inner - direction * band_len * 0.9
    cuff = [tuple(o2), tuple(outer), tuple(inner), tuple(i2)]
    return [(float(x), float(y)) for x, y in sleeve], [(float(x), float(y)) for x, y in cuff]


def build_shapes(kind: str, lay: Layout) -> Shapes:
    """Polygons of one garment kind placed by ``lay``."""
    sh = Shapes()
    L = lay.length
    half = 0.5
    neck_half = 0.2 if kind == "tank-top" else 0.16
    neck_depth = {"tank-top": 0.26, "shirt": 0.2, "hoodie": 0.13}.get(kind, 0.15)
    nl = lay.p(-neck_half, 0.0)
    shoulder = lay.p(-half - 0.05, 0.09)
    armpit = lay.p(-half, 0.36 if kind == "tank-top" else 0.3)
    hem_l = lay.p(-half - lay.flare, L)
    hem_r = lay.p(half + lay.flare, L)
    back_neck = _arc(_mirror(lay, [nl])[0], nl, -0.03 * lay.B, 8)  # right to left, rising
    front_neck = _arc(nl, _mirror(lay, [nl])[0], neck_depth * lay.B, 16)

    if kind == "tank-top":
        strap_out = lay.p(-neck_half - 0.09, 0.0)
        armhole = _arc(strap_out, armpit, 0.0, 10)
        # Deep armhole curving in towards the body.
        armhole = [(x + 0.08 * lay.B * np.sin(np.pi * t), y) for (x, y), t in zip(armhole, np.linspace(0, 1, 10))]
        left = [nl, *armhole, hem_l]
        body = left + [hem_r] + list(reversed(_mirror(lay, left)))
        sh.body.append(body + back_neck[1:-1])
        sh.inner.append(back_neck + front_neck[1:-1])
        band = 0.03 * lay.B
        inner_neck = [(x, y + band) for x, y in front_neck]
        sh.bands.append(front_neck + list(reversed(inner_neck)))
    else:
        long = kind != "t-shirt"
        sleeve_l, cuff_l = _sleeve(lay, shoulder, armpit, long)
        left = [nl, shoulder, *sleeve_l[1:3], armpit, hem_l]
        if kind == "shirt":
            # Shirt tails: the hem curves up at the sides.
            tail = _arc(hem_l, hem_r, 0.08 * lay.B, 16)
            body = left + tail[1:-1] + list(reversed(_mirror(lay, left)))
        else:
            body = left + [hem_r] + list(reversed(_mirror(lay, left)))
        sh.body.append(body + back_neck[1:-1])
        sh.bands.append(cuff_l)
        sh.bands.append(_mirror(lay, cuff_l))
        sh.seams.append([shoulder, armpit])
        sh.seams.append(_mirror(lay, [shoulder, armpit]))
        sh.seams.append([nl, shoulder])
        sh.seams.append(_mirror(lay, [nl, shoulder]))
        if kind == "shirt":
            # Collar: two pointed leaves over the neckline, a placket and buttons.
            sh.inner.append(back_neck + front_neck[1:-1])
            tip = lay.p(-0.1, neck_depth + 0.07)
            leaf = [lay.p(-neck_half - 0.03, -0.04), tip, lay.p(0.0, neck_depth), *front_neck[:1]]
            sh.bands.append(leaf)
            sh.bands.append(_mirror(lay, leaf))
            sh.seams.append([lay.p(0.0, neck_depth), lay.p(0.0, L + 0.06)])
            for k in range(6):
                sh.buttons.append(lay.p(0.025, neck_depth + 0.08 + k * (L - neck_depth - 0.1) / 5.5))
        else:
            sh.inner.append(back_neck + front_neck[1:-1])
            band = 0.035 * lay.B
            inner_neck = [(x, y + band) for x, y in front_neck]
            sh.bands.append(front_neck + list(reversed(inner_neck)))
        if kind in ("sweater", "hoodie"):
            sh.bands.append([lay.p(-half - lay.flare, L - 0.1), hem_l, hem_r, lay.p(half + lay.flare, L - 0.1)])
        if kind == "hoodie":
            hood = _arc(lay.p(-neck_half - 0.16, 0.06), lay.p(neck_half + 0.16, 0.06), -0.3 * lay.B, 24)
            sh.back.append(hood)
            sh.seams.append([lay.p(-0.3, L - 0.45), lay.p(-0.22, L - 0.12)])
            sh.seams.append([lay.p(0.3, L - 0.45), lay.p(0.22, L - 0.12)])
            sh.seams.append([lay.p(-0.3, L - 0.45), lay.p(0.3, L - 0.45)])
            for sx in (-0.06, 0.06):
                sh.strings.append([lay.p(sx, neck_depth - 0.02), lay.p(sx * 1.3, neck_depth + 0.3)])
    return sh


def _raster(size: tuple[int, int], polys: list[list[Point]], lines: bool = False, width: float = 1.0) -> np.ndarray:
    """Anti-aliased float mask of polygons (or polylines) at the output size."""
    w, h = size
    img = np.zeros((h, w), np.uint8)
    # Sub-pixel vertices (4 fractional bits) keep edges smooth without supersampling.
    shifted = [np.round(np.asarray(poly, dtype=np.float64) * 16).astype(np.int32) for poly in polys if len(poly) >= 2]
    if shifted:
        if lines:
            cv2.polylines(img, shifted, False, 255, max(int(round(width)), 1), cv2.LINE_AA, shift=4)
        else:
            cv2.fillPoly(img, shifted, 255, cv2.LINE_AA, shift=4)
    return img.astype(np.float32) / 255.0


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """Low-frequency noise in -1..1, the base of fabric folds."""
    small = rng.standard_normal((cells[1], cells[0])).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / (np.abs(big).max() + 1e-6)


def fabric_shading(rng: np.random.Generator, mask: np.ndarray, scale: float) -> np.ndarray:
    """Multiplicative shading (around 1.0) with folds, edge fall-off and grain."""
    h, w = mask.shape
    folds = 0.07 * _smooth_noise(rng, h, w, (7, 9))
    # Long soft vertical wrinkles, the way a laid-flat garment creases.
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    wrinkles = 0.035 * np.sin(xs / (0.09 * scale) + phase + 0.6 * np.sin(ys / (0.35 * scale)))
    binary = (mask > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    edge = 0.16 * np.exp(-dist / (0.03 * scale))
    light = 0.05 * (0.5 - ys / h)  # top-lit
    grain = 0.012 * rng.standard_normal((h, w)).astype(np.float32)
    return (1.0 + folds + wrinkles - edge + light + grain).astype(np.float32)


def render_garment(
    design: GarmentDesign,
    rng: np.random.Generator,
    width: int,
    height: int,
) -> Image.Image:
    """Render the flat product shot of ``design`` at ``width x height``."""
    length = {"t-shirt": 1.22, "tank-top": 1.3, "shirt": 1.3}.get(design.kind, 1.25) + rng.uniform(-0.05, 0.05)
    lay = Layout(
        cx=0.0,
        top=0.0,
        B=1.0,
        sleeve_angle=float(rng.uniform(28, 42) if design.kind == "t-shirt" else rng.uniform(55, 72)),
        flare=float(rng.uniform(-0.02, 0.04)),
        length=length,
    )
    # Fit the whole garment (sleeves and hood included) to a jittered share of the frame.
    unit = build_shapes(design.kind, lay)
    pts = np.asarray([pt for poly in unit.body + unit.back for pt in poly])
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    fill = rng.uniform(0.8, 0.9)
    lay.B = min(fill * width / (x1 - x0), fill * height / (y1 - y0), 0.55 * fill * width)
    lay.cx = width / 2 - (x0 + x1) / 2 * lay.B + rng.uniform(-0.02, 0.02) * width
    lay.top = height / 2 - (y0 + y1) / 2 * lay.B + rng.uniform(-0.02, 0.02) * height
    B = lay.B
    shapes = build_shapes(design.kind, lay)
    size = (width, height)

    back = _raster(size, shapes.back)
    body = _raster(size, shapes.body)
    inner = _raster(size, shapes.inner) * body
    bands = _raster(size, shapes.bands)
    seams = _raster(size, shapes.seams, lines=True, width=max(B * 0.006, 1.0))
    strings = _raster(size, shapes.strings, lines=True, width=max(B * 0.012, 1.5))
    mask = np.maximum(body, back)

    tex = render_pattern(design, height, width, design.period * B, origin=(lay.cx, lay.top))
    if design.print == "logo":
        logo = draw_logo(design, int(0.2 * B))
        paste_logo(tex, logo, lay.p(0.2, 0.35))
    shade = fabric_shading(rng, mask, B)
    # Rib bands: fine vertical ribs and a slightly deeper tone.
    xs = np.arange(width, dtype=np.float32)[None, :]
    ribs = 1.0 - bands * (0.06 + 0.04 * np.sin(xs / max(B * 0.006, 1.0)))
    shade = shade * ribs * (1.0 - 0.35 * seams) * (1.0 - 0.45 * inner) * (1.0 - 0.25 * back * (1 - body))
    garment = np.clip(tex * shade[..., None], 0.0, 1.0)

    for cx, cy in shapes.buttons:
        r = 0.016 * B
        cv2.circle(garment, (int(cx), int(cy)), int(r), (0.93, 0.92, 0.88), -1, lineType=cv2.LINE_AA)
        cv2.circle(garment, (int(cx), int(cy)), int(r), (0.6, 0.6, 0.58), 1, lineType=cv2.LINE_AA)
    string_col = np.asarray((0.93, 0.93, 0.9), dtype=np.float32)
    garment = garment * (1 - strings[..., None]) + string_col * strings[..., None]

    bg_tone = np.asarray([rng.uniform(0.93, 0.98) for _ in range(3)], dtype=np.float32)
    bg = np.empty((height, width, 3), dtype=np.float32)
    bg[:] = bg_tone
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    bg *= (1.0 - 0.04 * (xx**2 + yy**2))[..., None]  # faint studio vignette
    shadow = cv2.GaussianBlur(mask, (0, 0), sigmaX=0.02 * B)
    shadow = np.roll(shadow, (int(0.012 * B), int(0.008 * B)), axis=(0, 1))
    bg *= (1.0 - 0.18 * shadow)[..., None]

    m = mask[..., None]
    out = bg * (1.0 - m) + garment * m
    return Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB")
