"""Garment designs: the kind, colour and print of one demo product, drawn from a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Upper-body kinds the renderer knows; the value is the shop's display name.
KINDS: dict[str, str] = {
    "t-shirt": "T-Shirt",
    "long-sleeve": "Long-Sleeve Tee",
    "tank-top": "Tank Top",
    "sweater": "Sweater",
    "hoodie": "Hoodie",
    "shirt": "Button-Up Shirt",
}

# Colour names as a shop would print them, with the sRGB value of the dyed fabric.
PALETTE: dict[str, tuple[int, int, int]] = {
    "Coral": (238, 112, 92),
    "Crimson": (184, 30, 52),
    "Mustard": (222, 172, 42),
    "Olive": (118, 128, 52),
    "Forest Green": (38, 108, 62),
    "Teal": (28, 128, 138),
    "Sky Blue": (112, 172, 228),
    "Royal Blue": (42, 72, 182),
    "Navy": (32, 42, 92),
    "Lavender": (168, 150, 212),
    "Plum": (108, 50, 100),
    "Pink": (238, 150, 182),
    "Burgundy": (118, 26, 46),
    "Orange": (238, 128, 40),
    "Sand": (214, 190, 150),
    "Charcoal": (62, 62, 68),
    "White": (238, 238, 234),
    "Black": (32, 32, 34),
    "Heather Grey": (158, 158, 164),
    "Mint": (150, 214, 180),
}

PRINTS: tuple[str, ...] = ("solid", "stripes", "dots", "checks", "logo")
PRINT_ADJECTIVE: dict[str, str] = {
    "solid": "",
    "stripes": "Striped",
    "dots": "Polka-Dot",
    "checks": "Gingham",
    "logo": "Graphic",
}
LOGO_SHAPES: tuple[str, ...] = ("ring", "star", "diamond", "wave", "letter")


@dataclass(frozen=True)
class GarmentDesign:
    """Everything needed to render one garment, both flat and worn.

    ``period`` is the print's repeat as a fraction of the garment's body width,
    so the same print keeps its proportions on the flat shot and on the photo.
    """

    kind: str
    colour_name: str
    colour: tuple[int, int, int]
    print: str
    accent: tuple[int, int, int]
    period: float
    duty: float
    logo_shape: str
    logo_text: str

    @property
    def display_name(self) -> str:
        """Shop title such as ``Coral Striped T-Shirt``."""
        adj = PRINT_ADJECTIVE[self.print]
        return " ".join(p for p in (self.colour_name, adj, KINDS[self.kind]) if p)


def luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance (0..255 scale) of an sRGB colour, Rec. 601 weights."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def draw_design(rng: np.random.Generator, kind: str, print_name: str) -> GarmentDesign:
    """Draw a colour, an accent that contrasts with it, and print geometry."""
    names = list(PALETTE)
    colour_name = names[int(rng.integers(len(names)))]
    colour = PALETTE[colour_name]
    # The accent must stand out from the ground or the print vanishes in the photo.
    contrasting = [n for n in names if abs(luminance(PALETTE[n]) - luminance(colour)) >= 70]
    accent = PALETTE[contrasting[int(rng.integers(len(contrasting)))]]
    period = {"stripes": (0.07, 0.13), "dots": (0.09, 0.15), "checks": (0.11, 0.19)}.get(print_name, (0.1, 0.1))
    return GarmentDesign(
        kind=kind,
        colour_name=colour_name,
        colour=colour,
        print=print_name,
        accent=accent,
        period=float(rng.uniform(*period)),
        duty=float(rng.uniform(0.3, 0.5)),
        logo_shape=LOGO_SHAPES[int(rng.integers(len(LOGO_SHAPES)))],
        logo_text="VSK",
    )
