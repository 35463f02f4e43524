"""Landmarks + colour -> CIHP regions: the rules behind the mediapipe parser.

Everything runs at a reduced working resolution. The order matters: the person mask
comes from the segmenters; the face from the face-mesh outline; a skin colour model
sampled on the cheeks finds exposed skin; the nearest body "chain" (neck/torso, each
arm, each leg, drawn from the pose landmarks) names each skin pixel; hair is what
is neither skin nor face above the shoulders, grown downwards by a hair-vs-clothes
colour model; what remains is clothing, split into top and bottom by colour models
seeded on the chest and on the thighs, with the hip line as a prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.annotate.parse.colour_model import ColourGMM
from pipeline.annotate.parse.labels import (
    DRESS, FACE, HAIR, LEFT_ARM, LEFT_LEG, LEFT_SHOE, NECK, PANTS, RIGHT_ARM, RIGHT_LEG,
    RIGHT_SHOE, SKIRT, UPPER,
)
from pipeline.annotate.parse.landmarks import CHIN, FACE_FEATURES, FACE_OVAL, BodyLandmarks
from pipeline.annotate.parse.skin import SkinModel

# BlazePose indices.
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_PINKY, R_PINKY, L_INDEX, R_INDEX, L_THUMB, R_THUMB = 17, 18, 19, 20, 21, 22
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 23, 24, 25, 26, 27, 28
L_HEEL, R_HEEL, L_FOOT, R_FOOT = 29, 30, 31, 32

# Chain ids of the distance map and the CIHP label skin near each chain takes.
NECK_CHAIN, TORSO_CHAIN, LARM_CHAIN, RARM_CHAIN, LLEG_CHAIN, RLEG_CHAIN = 1, 2, 3, 4, 5, 6
CHAIN_SKIN_LABEL = {NECK_CHAIN: NECK, TORSO_CHAIN: NECK, LARM_CHAIN: LEFT_ARM, RARM_CHAIN: RIGHT_ARM,
                    LLEG_CHAIN: LEFT_LEG, RLEG_CHAIN: RIGHT_LEG}
# Where waistbands sit, in torso heights from the hip joints (negative: above); the
# middle of the range seen on VITON-HD photos (-0.36 .. +0.26).
WAIST_OFFSET = -0.15
GRABCUT_ITERATIONS = 2
HIGHEST_WAIST = 0.5
HAND_FINGER_PATHS = ((0, 5, 8), (0, 9, 12), (0, 13, 16), (0, 17, 20), (0, 1, 4))
# Width of the silhouette rim, in morphology kernels, whose pixels blend the person with
# the backdrop (antialiasing, JPEG, upscaling of small pictures): too mixed to be judged
# by their own colour, they take the label of the hair or skin just inside them.
RIM_KERNELS = 2
# Top and bottom seeds whose mean colours lie closer than this (OpenCV 8-bit CIELAB units)
# are one colour even when their colour models tell them apart: k=3 models fitted on a few
# thousand pixels each separate shading and weave of a single fabric. Fitted on 759 two-piece
# outfits of viton256/train (the authors' parse: a top and trousers or a skirt): the
# separation test never called two garments different below 4.5 units, so 4 flips none of
# them; a dress with a cut-out at the waist (dresscode15) sits at 1.9.
SAME_COLOUR_DISTANCE = 4.0
# Share of its own seed each model must claim for the two to count as different colours.
MIN_SEED_SEPARATION = 0.7


@dataclass
class RegionSettings:
    """Thresholds of the rules (Mahalanobis units for colour, shoulder widths for distance)."""

    person_threshold: float = 0.5
    skin_threshold: float = 3.0
    refine_clothes: bool = True


def _mask_from_poly(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
    return m.astype(bool)


def _components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The connected components of ``mask`` that overlap ``seeds``."""
    if not mask.any() or not seeds.any():
        return np.zeros_like(mask)
    _, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    ids = np.unique(comp[seeds & mask])
    return np.isin(comp, ids[ids > 0])


def _drop_small(mask: np.ndarray, min_area: float) -> np.ndarray:
    """``mask`` without its connected components smaller than ``min_area`` pixels."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[comp]


def _open(mask: np.ndarray, k: int) -> np.ndarray:
    if k < 2:
        return mask
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kern).astype(bool)


def _rim(person: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The silhouette's rim (``RIM_KERNELS`` kernels wide) and the structuring element that spans it."""
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ((RIM_KERNELS * k) | 1,) * 2)
    return person & ~cv2.erode(person.astype(np.uint8), kern).astype(bool), kern


def _grow_into(mask: np.ndarray, rim: np.ndarray, kern: np.ndarray) -> np.ndarray:
    """``mask`` plus the rim pixels within one rim width of it."""
    return mask | (rim & cv2.dilate(mask.astype(np.uint8), kern).astype(bool))


def _close(mask: np.ndarray, k: int) -> np.ndarray:
    if k < 2:
        return mask
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kern).astype(bool)


class _Geometry:
    """Body measures in pixels derived from the pose."""

    def __init__(self, lm: BodyLandmarks, shape: tuple[int, int]) -> None:
        p = lm.pose
        self.p = p
        h, w = shape
        self.ls, self.rs, self.lh, self.rh = p[L_SH, :2], p[R_SH, :2], p[L_HIP, :2], p[R_HIP, :2]
        self.sh_mid = (self.ls + self.rs) / 2
        self.hip_mid = (self.lh + self.rh) / 2
        self.sw = float(max(np.linalg.norm(self.ls - self.rs), 0.05 * max(h, w)))
        self.th = float(max(np.linalg.norm(self.hip_mid - self.sh_mid), 0.6 * self.sw))
        self.sh_y = float(self.sh_mid[1])
        self.hip_y = float(self.hip_mid[1])

    def pt(self, i: int) -> np.ndarray:
        return self.p[i, :2]

    def visible(self, i: int, shape: tuple[int, int], min_vis: float = 0.5) -> bool:
        x, y, v = self.p[i]
        return v >= min_vis and 0 <= x < shape[1] and 0 <= y < shape[0]


def _face_outline(lm: BodyLandmarks, g: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Face outline polygon and the chin point; from the face mesh, else an ellipse on the pose."""
    if lm.face is not None:
        return lm.face[list(FACE_OVAL)], lm.face[CHIN]
    nose = g.pt(NOSE)
    fw = max(float(np.linalg.norm(g.pt(L_EAR) - g.pt(R_EAR))) * 1.05, 0.35 * g.sw)
    centre = nose + np.array([0, 0.05 * fw])
    poly = cv2.ellipse2Poly((int(centre[0]), int(centre[1])), (int(fw / 2), int(fw * 0.68)), 0, 0, 360, 10)
    return poly.astype(np.float32), centre + np.array([0, fw * 0.68])


def _chain_map(shape: tuple[int, int], lm: BodyLandmarks, g: _Geometry, chin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the distance to the nearest body chain and that chain's id."""
    canvas = np.zeros(shape, np.uint8)

    def polyline(points: list[np.ndarray], cid: int) -> None:
        for a, b in zip(points[:-1], points[1:]):
            cv2.line(canvas, tuple(int(v) for v in np.round(a)), tuple(int(v) for v in np.round(b)), cid, 1)

    polyline([chin, g.sh_mid], NECK_CHAIN)
    polyline([g.sh_mid, g.hip_mid], TORSO_CHAIN)
    # Skin between the shoulder joints (a low neckline, bare shoulders) is chest, not
    # arm: without this line it lies nearer the arm chains' first points than the neck.
    polyline([g.ls, g.rs], TORSO_CHAIN)
    polyline([g.pt(L_HIP), g.pt(L_KNEE), g.pt(L_ANK), g.pt(L_HEEL), g.pt(L_FOOT)], LLEG_CHAIN)
    polyline([g.pt(R_HIP), g.pt(R_KNEE), g.pt(R_ANK), g.pt(R_HEEL), g.pt(R_FOOT)], RLEG_CHAIN)
    for cid, (sh, el, wr, pinky, index, thumb), hand in (
        (LARM_CHAIN, (L_SH, L_EL, L_WR, L_PINKY, L_INDEX, L_THUMB), lm.left_hand),
        (RARM_CHAIN, (R_SH, R_EL, R_WR, R_PINKY, R_INDEX, R_THUMB), lm.right_hand),
    ):
        polyline([g.pt(sh), g.pt(el), g.pt(wr)], cid)
        if hand is not None:
            for path in HAND_FINGER_PATHS:
                polyline([hand[i] for i in path], cid)
        else:
            for tip in (pinky, index, thumb):
                polyline([g.pt(wr), g.pt(tip)], cid)
    if not canvas.any():
        return np.full(shape, np.inf, np.float32), np.zeros(shape, np.uint8)
    src = np.where(canvas > 0, 0, 255).astype(np.uint8)
    dist, lab = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lut = np.zeros(int(lab.max()) + 1, np.uint8)
    lut[lab[canvas > 0]] = canvas[canvas > 0]
    return dist, lut[lab]


def _texture(lum: np.ndarray) -> np.ndarray:
    """Local busyness: median absolute Laplacian over a small window, square-root scaled
    so smooth skin and hair strands sit a few model spreads apart.

    The median, not the mean: one sharp edge (a dark top against a white wall, a sleeve
    against an arm) lights up only a line of the window and scores low, where strands
    fill it; with the mean every garment outline looked like hair."""
    lap = np.abs(cv2.Laplacian(lum.astype(np.float32), cv2.CV_32F, ksize=3))
    # OpenCV's 7x7 median needs 8 bits; clipping only flattens the sharpest edges.
    med = cv2.medianBlur(np.clip(lap, 0, 255).astype(np.uint8), 7)
    return 8.0 * np.sqrt(med.astype(np.float32))


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def label_regions(rgb: np.ndarray, lm: BodyLandmarks, s: RegionSettings) -> np.ndarray:
    """CIHP ids for the working-resolution picture ``rgb`` given its landmarks."""
    shape = rgb.shape[:2]
    h, w = shape
    g = _Geometry(lm, shape)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    k = max(3, int(round(g.sw * 0.03)) | 1)  # morphology kernel, ~3% of shoulder width

    person = lm.person_prob > s.person_threshold
    n, comp, stats, _ = cv2.connectedComponentsWithStats(person.astype(np.uint8), connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        person = np.isin(comp, 1 + np.nonzero(areas >= 0.05 * areas.max())[0])

    # Face outline and the skin model sampled on the cheeks and nose.
    oval, chin = _face_outline(lm, g)
    f0 = _mask_from_poly(shape, oval)
    top_y, chin_y = float(oval[:, 1].min()), float(max(oval[:, 1].max(), chin[1]))
    fx0, fx1 = float(oval[:, 0].min()), float(oval[:, 0].max())
    fh, fw = max(chin_y - top_y, 1.0), max(fx1 - fx0, 1.0)
    inner = cv2.erode(f0.astype(np.uint8), np.ones((max(3, int(fw * 0.1)),) * 2, np.uint8)).astype(bool)
    inner &= (yy > top_y + 0.35 * fh) & (yy < chin_y - 0.1 * fh) & person
    skin_model = SkinModel.fit(rgb[inner]) if inner.sum() >= 30 else SkinModel.default()
    skin = person & (skin_model.distance(rgb) < s.skin_threshold)
    skin = _open(skin, k)

    dist, chain = _chain_map(shape, lm, g, chin)

    lab = _lab(rgb)
    near_arm = (dist < 0.2 * g.sw) & np.isin(chain, (LARM_CHAIN, RARM_CHAIN))
    face, hair = _face_and_hair(lab, person, skin, f0, inner, near_arm, lm, g, yy, xx, (top_y, chin_y, fx0, fx1), k)

    # Skin elsewhere: named by the nearest chain, dropped when far from every chain.
    body_skin = skin & ~face & ~hair & (dist < 0.45 * g.sw)
    # Skin-coloured flecks of a print (leopard, sequins) are not skin: real exposed
    # skin comes in patches at least a few percent of a shoulder width across.
    body_skin = _drop_small(body_skin, (0.12 * g.sw) ** 2)
    rim, rim_kern = _rim(person, k)
    body_skin = _grow_into(body_skin, rim & ~face & ~hair & (dist < 0.45 * g.sw), rim_kern)
    labels = np.zeros(shape, np.uint8)

    # Shoes: non-skin just around each visible foot.
    shoes = np.zeros(shape, bool)
    for ank, heel, foot, lab_id in ((L_ANK, L_HEEL, L_FOOT, LEFT_SHOE), (R_ANK, R_HEEL, R_FOOT, RIGHT_SHOE)):
        if not (g.visible(ank, shape) and (g.visible(heel, shape, 0.3) or g.visible(foot, shape, 0.3))):
            continue
        zone = np.zeros(shape, np.uint8)
        pts = [g.pt(i) for i in (ank, heel, foot)]
        for a, b in ((pts[0], pts[1]), (pts[1], pts[2]), (pts[0], pts[2])):
            cv2.line(zone, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, max(2, int(0.18 * g.sw)))
        sh = zone.astype(bool) & person & ~body_skin & (yy > g.pt(ank)[1] - 0.05 * g.sw)
        labels[sh] = lab_id
        shoes |= sh

    clothes = person & ~face & ~hair & ~body_skin & ~shoes
    upper, lower, one_piece = _split_clothes(clothes, lab, rgb, g, yy, xx, dist, chain, s, k)

    labels[upper] = UPPER
    if lower.any():
        labels[lower] = DRESS if one_piece else _bottom_kind(lower, g, shape)
    for cid, lab_id in CHAIN_SKIN_LABEL.items():
        labels[body_skin & (chain == cid)] = lab_id
    labels[face] = FACE
    labels[hair] = HAIR
    return labels


def _face_and_hair(
    lab: np.ndarray, person: np.ndarray, skin: np.ndarray, f0: np.ndarray, inner: np.ndarray,
    near_arm: np.ndarray, lm: BodyLandmarks, g: _Geometry, yy: np.ndarray, xx: np.ndarray,
    box: tuple[float, float, float, float], k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Face and hair masks from three per-picture colour models: hair, skin and top.

    Hair is seeded on the crown and the sides of the head (above the upper third of the
    face outline), which are hair on nearly everyone; skin on the cheeks; the top on the
    middle of the chest. Around the head and down to the chest each pixel takes the
    model that explains it best, hair losing weight with distance below the chin; hair
    must connect to its seeds.
    """
    top_y, chin_y, fx0, fx1 = box
    fh, fw, fcx = max(chin_y - top_y, 1.0), max(fx1 - fx0, 1.0), (fx0 + fx1) / 2
    f0_wide = cv2.dilate(f0.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    hair_seed = person & ~f0_wide & ~near_arm & (yy < top_y + 0.3 * fh) & (np.abs(xx - fcx) < 0.8 * fw)
    torso_core = (
        person & ~skin & (yy > g.sh_y + 0.25 * g.th) & (yy < g.hip_y - 0.45 * g.th)
        & (np.abs(xx - g.sh_mid[0]) < 0.25 * g.sw)
    )
    # Colour alone confuses blond or brown hair with skin; texture tells them apart
    # (strands are busy, skin and most cloth are smooth), so it is a fourth feature.
    feat = np.concatenate([lab, _texture(lab[..., 0])[..., None]], axis=-1)
    hair_gmm = ColourGMM.fit(feat[hair_seed], k=2, min_std=6.0)
    # The cheek sample also holds eyes, brows and nostrils; keeping its smoother half
    # leaves bare skin, which would otherwise claim every textured hair strand.
    skin_px = feat[inner]
    if len(skin_px) >= 60:
        skin_px = skin_px[skin_px[:, 3] <= np.quantile(skin_px[:, 3], 0.5)]
    skin_gmm = ColourGMM.fit(skin_px, k=2, min_std=6.0)
    cloth_gmm = ColourGMM.fit(feat[torso_core], k=3, min_std=6.0)
    # Arms count against hair only when raised beside the head; below the chin long
    # hair lies over the shoulders and upper arms, and colour alone decides.
    zone = person & ~(near_arm & (yy < chin_y)) & (yy < g.sh_y + 0.8 * g.th) & (np.abs(xx - fcx) < 0.8 * g.sw)
    # Eyes, brows and mouth are dark like hair but always face: keep them out of hair.
    features = np.zeros_like(person)
    if lm.face is not None:
        hull = cv2.convexHull(np.round(lm.face[list(FACE_FEATURES)]).astype(np.int32))
        features = _mask_from_poly(person.shape, hull.reshape(-1, 2).astype(np.float32))
    idx = np.nonzero(zone)
    px = feat[idx]
    neg = np.full(len(px), -1e9, np.float32)
    l_hair = hair_gmm.log_likelihood(px) if hair_gmm is not None else neg
    l_skin = skin_gmm.log_likelihood(px) if skin_gmm is not None else neg
    l_cloth = cloth_gmm.log_likelihood(px) if cloth_gmm is not None else neg
    l_hair = l_hair - 4.0 * np.maximum(yy[idx] - chin_y, 0) / g.th
    hairish = np.zeros_like(person)
    hairish[idx] = (l_hair > l_skin) & (l_hair > l_cloth)
    skinish = np.zeros_like(person)
    skinish[idx] = (l_skin >= l_hair) & (l_skin > l_cloth)
    hairish &= ~features
    # Inside the face outline hair only falls over the forehead (bangs); lower down,
    # busy pixels there are the face's own edges and shadows.
    hairish &= ~(f0 & (yy > top_y + 0.35 * fh))
    # Below the chin the silhouette rim blends cloth or skin with the backdrop and
    # reads as hair; it is hair only where hair lies just inside it.
    rim, rim_kern = _rim(person, k)
    rim &= yy > chin_y
    hairish &= ~rim
    hairish = _open(hairish, k)
    hair = _components_touching(hairish | hair_seed, hair_seed) if hair_gmm is not None else hair_seed
    hair = _grow_into(hair, rim & zone, rim_kern)
    hair = _close(hair, k) & person & ~features

    face = f0 & person & ~hair
    # Ears and jaw: skin-coloured pixels attached to the face at face height.
    ear_band = (yy > top_y + 0.2 * fh) & (yy < chin_y) & (np.abs(xx - fcx) < 0.75 * fw)
    face_wide = cv2.dilate(face.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    face |= _components_touching((skinish | skin) & ~hair & ear_band, face_wide) & ear_band
    return face, hair


def _split_clothes(
    clothes: np.ndarray, lab: np.ndarray, rgb: np.ndarray, g: _Geometry, yy: np.ndarray, xx: np.ndarray,
    dist: np.ndarray, chain: np.ndarray, s: RegionSettings, k: int,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Top vs bottom garment, and whether the clothing is one piece (a dress).

    Seeds: the middle of the chest (top) and the clothing along the thighs (bottom).
    When their colours differ, GrabCut settles the waistline between them; when they
    do not (same-colour outfit), a dress if nothing separates the legs, else the line
    sits at ``WAIST_OFFSET`` torso heights from the hip joints, where waistbands
    usually are. With no bottom in view, everything is the top.
    """
    legs = np.isin(chain, (LLEG_CHAIN, RLEG_CHAIN)) & (dist < 0.25 * g.sw)
    upper_seed = clothes & (yy > g.sh_y + 0.2 * g.th) & (yy < g.hip_y - 0.5 * g.th) & (
        np.abs(xx - g.sh_mid[0]) < 0.35 * g.sw
    )
    waist_y = g.hip_y + WAIST_OFFSET * g.th
    lower_seed = clothes & legs & (yy > g.hip_y + 0.35 * g.th)
    if lower_seed.sum() < 50:
        lower_seed = clothes & legs & (yy > g.hip_y + 0.1 * g.th)
    below_waist = clothes & (yy > waist_y)
    geometric = (clothes & ~below_waist, below_waist, False)
    # When the frame ends at the hips, the only place a bottom can show is the band
    # around the hip joints; seeds there count only if their colour is clearly not
    # the top's (a long top reaches that band too).
    weak = lower_seed.sum() < 50
    if weak:
        lower_seed = clothes & (yy > g.hip_y - 0.05 * g.th) & (np.abs(xx - g.hip_mid[0]) < 0.5 * g.sw)
    if lower_seed.sum() < 50:
        return clothes, np.zeros_like(clothes), False
    nothing_below = (clothes, np.zeros_like(clothes), False)
    if upper_seed.sum() < 50 or not s.refine_clothes:
        return nothing_below if weak else geometric
    up_gmm = ColourGMM.fit(lab[upper_seed], k=3)
    lo_gmm = ColourGMM.fit(lab[lower_seed], k=3)
    if up_gmm is None or lo_gmm is None:
        return nothing_below if weak else geometric
    if same_colour(lab[upper_seed], lab[lower_seed], up_gmm, lo_gmm):
        if weak:
            return nothing_below
        # Same colour above and below the waist: a dress when nothing separates the
        # legs under the crotch (skirt-like), else a matching top and trousers.
        if _bottom_kind(below_waist, g, clothes.shape) == SKIRT:
            return np.zeros_like(clothes), clothes, True
        return geometric
    ys, xs = np.nonzero(clothes)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    img = rgb[y0:y1, x0:x1].copy()
    c = clothes[y0:y1, x0:x1]
    # Non-clothing pixels get one flat colour so they fill a single component of the
    # "top" model instead of bending it towards skin or backdrop.
    img[~c] = (0, 255, 0)
    mask = np.full(c.shape, cv2.GC_BGD, np.uint8)
    # Start GrabCut from what the seed models say, not from the waist line: a
    # geometric start lets a long top's hem teach the bottom model its colour.
    score = lo_gmm.log_likelihood(lab[y0:y1, x0:x1][c]) - up_gmm.log_likelihood(lab[y0:y1, x0:x1][c])
    score = np.clip(score, -10, 10) + 2.0 * (yy[y0:y1, x0:x1][c] - waist_y) / g.th
    mask[c] = np.where(score > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    mask[lower_seed[y0:y1, x0:x1]] = cv2.GC_FGD
    mask[upper_seed[y0:y1, x0:x1]] = cv2.GC_BGD
    # GrabCut's cost grows fast with pixel count; half size keeps it to tens of ms
    # and the waistline it finds is a smooth curve that survives the upscaling.
    sh, sw_ = max(8, c.shape[0] // 2), max(8, c.shape[1] // 2)
    small_mask = cv2.resize(mask, (sw_, sh), interpolation=cv2.INTER_NEAREST)
    small_img = cv2.resize(img, (sw_, sh), interpolation=cv2.INTER_AREA)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(small_img, small_mask, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    fg = ((small_mask == cv2.GC_FGD) | (small_mask == cv2.GC_PR_FGD)).astype(np.uint8)
    lower = np.zeros_like(clothes)
    lower[y0:y1, x0:x1] = (cv2.resize(fg, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_NEAREST) > 0) & c
    lower = _components_touching(_open(lower, k), lower_seed)
    # No waistband sits this far above the hip joints (VITON-HD: -0.36 .. +0.26 torso
    # heights); a bottom reaching higher is the colour split going astray (a bottom
    # seed polluted by something held at the hips, a print), and the top keeps it.
    lower &= yy > g.hip_y - HIGHEST_WAIST * g.th
    upper = clothes & ~lower
    # Top fragments cut off from the chest below the waist belong to the bottom.
    upper_main = _components_touching(upper, upper_seed | (clothes & (yy < waist_y - 0.3 * g.th)))
    lower |= upper & ~upper_main & (yy > waist_y - 0.2 * g.th)
    return clothes & ~lower, lower, False


def same_colour(upper_px: np.ndarray, lower_px: np.ndarray, up_gmm: ColourGMM, lo_gmm: ColourGMM) -> bool:
    """Whether the top's and the bottom's seed pixels (Lab, N x 3) are one colour.

    One colour when their means are within ``SAME_COLOUR_DISTANCE``, or when the two
    colour models cannot tell their own seeds apart.
    """
    if float(np.linalg.norm(upper_px.mean(axis=0) - lower_px.mean(axis=0))) < SAME_COLOUR_DISTANCE:
        return True
    sep_lo = np.mean(lo_gmm.log_likelihood(lower_px) > up_gmm.log_likelihood(lower_px))
    sep_up = np.mean(up_gmm.log_likelihood(upper_px) > lo_gmm.log_likelihood(upper_px))
    return bool(min(sep_lo, sep_up) < MIN_SEED_SEPARATION)


def _bottom_kind(lower: np.ndarray, g: _Geometry, shape: tuple[int, int]) -> int:
    """Pants when a gap opens between the legs under the crotch, else skirt."""
    h, _ = shape
    lk, rk = g.pt(L_KNEE), g.pt(R_KNEE)
    y0 = int(g.hip_y + 0.45 * g.th)
    ys = np.nonzero(lower.any(axis=1))[0]
    if ys.size == 0:
        return PANTS
    y1 = min(int(ys.max()), int(max(lk[1], rk[1])), h - 1)
    if y1 - y0 < 0.15 * g.th:
        return PANTS
    rows = np.arange(y0, y1)
    t = (rows - g.hip_y) / max(float((lk[1] + rk[1]) / 2 - g.hip_y), 1.0)
    lx = g.lh[0] + t * (lk[0] - g.lh[0])
    rx = g.rh[0] + t * (rk[0] - g.rh[0])
    mid = np.clip(np.round((lx + rx) / 2).astype(int), 0, shape[1] - 1)
    covered = lower[rows, mid].mean()
    return SKIRT if covered > 0.85 else PANTS
