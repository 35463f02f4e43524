"""Label sets of human parsers (CIHP, LIP, ATR), their palettes, and the mappings into CIHP.

The pipeline stores every parse map in CIHP ids because VITON-HD and HR-VITON read
``image-parse-v3`` maps in that set (10 = neck / torso skin). Parsers trained on LIP or
ATR (the public SCHP checkpoints) speak another set; ``LIP_TO_CIHP`` and ``ATR_TO_CIHP``
convert them. Left/right always mean the subject's own side in all three sets (a person
facing the camera has label 14, left-arm, on the image's right half), as the VITON-HD
ground truth and the LIP annotation guide both show.
"""

from __future__ import annotations

import numpy as np

CIHP_LABELS: tuple[str, ...] = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat",
    "socks", "pants", "torso-skin", "scarf", "skirt", "face", "left-arm", "right-arm",
    "left-leg", "right-leg", "left-shoe", "right-shoe",
)
LIP_LABELS: tuple[str, ...] = (
    "background", "hat", "hair", "glove", "sunglasses", "upper-clothes", "dress", "coat",
    "socks", "pants", "jumpsuits", "scarf", "skirt", "face", "left-arm", "right-arm",
    "left-leg", "right-leg", "left-shoe", "right-shoe",
)
ATR_LABELS: tuple[str, ...] = (
    "background", "hat", "hair", "sunglasses", "upper-clothes", "skirt", "pants", "dress",
    "belt", "left-shoe", "right-shoe", "face", "left-leg", "right-leg", "left-arm",
    "right-arm", "bag", "scarf",
)

LABEL_SETS: dict[str, tuple[str, ...]] = {"cihp": CIHP_LABELS, "lip": LIP_LABELS, "atr": ATR_LABELS}

# CIHP ids used by name in the code.
BACKGROUND, HAT, HAIR, GLOVE, SUNGLASSES, UPPER, DRESS, COAT = 0, 1, 2, 3, 4, 5, 6, 7
SOCKS, PANTS, NECK, SCARF, SKIRT, FACE = 8, 9, 10, 11, 12, 13
LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = 14, 15, 16, 17, 18, 19

# The palette VITON-HD ships in its image-parse-v3 PNGs (254, not 255, is what the
# released files carry; copying it keeps our maps byte-compatible with theirs).
CIHP_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0),
    (0, 0, 85), (0, 119, 220), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128),
    (0, 128, 0), (0, 0, 254), (51, 169, 220), (0, 254, 254), (85, 254, 169),
    (169, 254, 85), (254, 254, 0), (254, 169, 0),
)


def voc_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """The bit-interleaved PASCAL-VOC palette SCHP uses to draw LIP and ATR maps."""
    colours = []
    for j in range(n):
        lab, r, g, b, i = j, 0, 0, 0, 0
        while lab:
            r |= ((lab >> 0) & 1) << (7 - i)
            g |= ((lab >> 1) & 1) << (7 - i)
            b |= ((lab >> 2) & 1) << (7 - i)
            i += 1
            lab >>= 3
        colours.append((r, g, b))
    return tuple(colours)


LIP_PALETTE = voc_palette(len(LIP_LABELS))
ATR_PALETTE = voc_palette(len(ATR_LABELS))
PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "cihp": CIHP_PALETTE, "lip": LIP_PALETTE, "atr": ATR_PALETTE,
}

# LIP and CIHP share ids 0..19 except 10. LIP 10 "jumpsuits" has no CIHP class: a
# jumpsuit covers the torso and the legs in one piece, which is what CIHP "dress" (6)
# means to the try-on models (the agnostic mask removes torso and legs for it), so it
# becomes dress. LIP has no neck class: its annotators leave neck skin as background,
# which ``fill_neck`` (skin.py) can recover afterwards.
LIP_TO_CIHP: tuple[int, ...] = (
    BACKGROUND, HAT, HAIR, GLOVE, SUNGLASSES, UPPER, DRESS, COAT, SOCKS, PANTS,
    DRESS,  # jumpsuits -> dress (lossy: CIHP has no one-piece trouser garment)
    SCARF, SKIRT, FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE,
)

ATR_TO_CIHP: tuple[int, ...] = (
    BACKGROUND,  # background
    HAT,  # hat
    HAIR,  # hair
    SUNGLASSES,  # sunglasses
    UPPER,  # upper-clothes
    SKIRT,  # skirt
    PANTS,  # pants
    DRESS,  # dress
    PANTS,  # belt (lossy): worn at the waist of the bottom garment, so it goes with the
    #         bottom; the try-on masks treat it like the trousers it holds up
    LEFT_SHOE,  # left-shoe
    RIGHT_SHOE,  # right-shoe
    FACE,  # face
    LEFT_LEG,  # left-leg
    RIGHT_LEG,  # right-leg
    LEFT_ARM,  # left-arm
    RIGHT_ARM,  # right-arm
    BACKGROUND,  # bag (lossy): not part of the person or of any garment CIHP knows; as
    #              background it stays visible in the agnostic image instead of being
    #              painted over as clothing
    SCARF,  # scarf
)

TO_CIHP: dict[str, tuple[int, ...]] = {
    "cihp": tuple(range(len(CIHP_LABELS))), "lip": LIP_TO_CIHP, "atr": ATR_TO_CIHP,
}


def mapping_lut(label_set: str) -> np.ndarray:
    """A 256-entry lookup table sending ids of ``label_set`` to CIHP ids (unknown ids -> 0)."""
    try:
        table = TO_CIHP[label_set]
    except KeyError:
        raise ValueError(f"unknown label set {label_set!r}; expected one of {sorted(TO_CIHP)}") from None
    lut = np.zeros(256, dtype=np.uint8)
    lut[: len(table)] = table
    return lut


def to_cihp(labels: np.ndarray, label_set: str) -> np.ndarray:
    """Convert a map of ``label_set`` ids into CIHP ids."""
    return mapping_lut(label_set)[np.asarray(labels, dtype=np.uint8)]
