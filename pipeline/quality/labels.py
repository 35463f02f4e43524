"""Bringing reference annotations and ours into one label space before comparing them.

Parse maps: reference maps come as palette PNGs (VITON-HD ``image-parse-v3``,
VITON ``image-parse``; the pixel values are the label ids), as plain label PNGs
(``L`` mode, values = ids) or as colour renderings (RGB, mapped back through the
CIHP palette, or the PASCAL-VOC palette SCHP uses for LIP maps). VITON's
``image-parse`` (CP-VTON preprocessing, LIP_JPPNet) uses LIP ids, which equal
CIHP ids except 10 (LIP jumpsuits, CIHP torso skin); the 12 maps in
``viton_test12`` carry no label 10 and the CIHP palette, and 10 belongs to no
evaluation group, so both sets are read as CIHP.

Evaluation groups (CIHP ids), the same as the parse engineers' own report::

    background 0 | hair 2 | face 13 | upper-clothes 5 | bottom 6 dress, 9 pants, 12 skirt
    arms 14, 15 | legs 16, 17

"bottom" groups dress with pants and skirt because a dress covers the lower
body and parsers disagree on where a dress stops being a top; coat (7) and the
small classes (hat, glove, sunglasses, socks, neck, scarf, shoes) are scored in
no group.

Keypoints: a reference pose is BODY_25 or COCO-18 (told apart by the keypoint
count); ours is BODY_25 and is reduced to COCO-18 when the reference is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.annotate.body25 import BODY25_NAMES, COCO18_NAMES, body25_to_coco18
from pipeline.annotate.parse.labels import CIHP_PALETTE, voc_palette

PARSE_GROUPS: dict[str, tuple[int, ...]] = {
    "background": (0,),
    "hair": (2,),
    "face": (13,),
    "upper-clothes": (5,),
    "bottom": (6, 9, 12),
    "arms": (14, 15),
    "legs": (16, 17),
}

# CIHP palette as VITON-HD ships it (254 rather than 255); the 255 variant is CIHP_PGN's.
_CIHP_PALETTE = np.array(CIHP_PALETTE, dtype=np.int64)


def _voc_palette(n: int) -> np.ndarray:
    return np.array(voc_palette(n), dtype=np.int64)


def load_label_map(path: str | Path) -> np.ndarray:
    """HxW uint8 label ids of a parse PNG, whether palette, grey-level or colour-rendered."""
    img = Image.open(path)
    if img.mode in ("P", "L", "I;16", "I"):
        labels = np.array(img)
        if labels.max(initial=0) > 255:
            raise ValueError(f"{path}: label ids above 255")
        return labels.astype(np.uint8)
    rgb = np.array(img.convert("RGB")).astype(np.int64)
    return rgb_to_labels(rgb, path)


def rgb_to_labels(rgb: np.ndarray, source: object = "image") -> np.ndarray:
    """Map a colour-rendered parse map back to ids through the CIHP (or, failing that, VOC) palette."""
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    for palette in (_CIHP_PALETTE, np.minimum(_CIHP_PALETTE + (_CIHP_PALETTE == 254), 255), _voc_palette(20)):
        table = {int((r << 16) | (g << 8) | b): i for i, (r, g, b) in enumerate(palette)}
        uniq = np.unique(codes)
        if all(int(c) in table for c in uniq):
            out = np.zeros(codes.shape, dtype=np.uint8)
            for c in uniq:
                out[codes == c] = table[int(c)]
            return out
    raise ValueError(f"{source}: colours do not match the CIHP or VOC palette; cannot read label ids")


def group_names() -> list[str]:
    """Names of the parse evaluation groups, in report order."""
    return list(PARSE_GROUPS)


def group_ids() -> list[tuple[int, ...]]:
    """CIHP ids of each evaluation group, in report order."""
    return list(PARSE_GROUPS.values())


def load_binary_mask(path: str | Path, threshold: int = 127) -> np.ndarray:
    """HxW bool mask of a mask image (JPEG noise and RGB copies tolerated)."""
    arr = np.array(Image.open(path).convert("L"))
    return arr > threshold


def keypoint_names(count: int) -> tuple[str, ...]:
    """Joint names of a body model with ``count`` keypoints (25 or 18)."""
    if count == 25:
        return BODY25_NAMES
    if count == 18:
        return COCO18_NAMES
    raise ValueError(f"unsupported body model with {count} keypoints")


def align_to_reference(body25: np.ndarray, reference_count: int) -> np.ndarray:
    """Our BODY_25 pose in the reference's joint order (BODY_25 unchanged, or COCO-18)."""
    if reference_count == 25:
        return np.asarray(body25)
    if reference_count == 18:
        return body25_to_coco18(body25)
    raise ValueError(f"unsupported reference body model with {reference_count} keypoints")
