"""Make the variants of one person/garment pair, reproducibly.

Every random draw comes from a seed derived from ``(seed, pair_id, variant)``, so a
variant's bytes depend only on its own pair and never on which other pairs exist,
their order, or how many worker processes ran.
"""

from __future__ import annotations

import hashlib

import numpy as np

from pipeline.augment.config import AugmentConfig
from pipeline.augment.letterbox import letterbox
from pipeline.augment.transforms import build_compose


def derive_seed(seed: int, pair_id: str, variant: int, role: str) -> int:
    """A 31-bit seed for one (pair, variant, role) from the stage seed."""
    digest = hashlib.sha256(f"{seed}\x00{pair_id}\x00{variant}\x00{role}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class PairAugmenter:
    """Builds the declared transforms once and applies them to pairs on demand."""

    def __init__(self, cfg: AugmentConfig) -> None:
        self.cfg = cfg
        self.shared = build_compose(cfg.shared, "augment.shared", shared=True)
        self.person = build_compose(cfg.person, "augment.person")
        self.garment = build_compose(cfg.garment, "augment.garment")

    def fit(self, person: np.ndarray, cloth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both images at the dataset resolution, aspect kept by padding (variant 00)."""
        return (
            letterbox(person, self.cfg.size, self.cfg.image_pad),
            letterbox(cloth, self.cfg.size, self.cfg.cloth_pad),
        )

    def variant(
        self, person: np.ndarray, cloth: np.ndarray, pair_id: str, variant: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Variant ``variant`` of a pair; 0 is the untouched original, only fitted to size."""
        return self.augment_fitted(*self.fit(person, cloth), pair_id, variant)

    def augment_fitted(
        self, person: np.ndarray, cloth: np.ndarray, pair_id: str, variant: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`variant` for images already passed through :meth:`fit` (fit once, vary many)."""
        if variant == 0:
            return person, cloth
        seed = self.cfg.seed
        # Shared transforms draw their parameters once and apply them to both images,
        # so a flip or a hue shift of the person is the same flip or shift of the garment.
        self.shared.set_random_seed(derive_seed(seed, pair_id, variant, "shared"))
        out = self.shared(image=person, cloth=cloth)
        person, cloth = out["image"], out["cloth"]
        self.person.set_random_seed(derive_seed(seed, pair_id, variant, "person"))
        person = self.person(image=person)["image"]
        self.garment.set_random_seed(derive_seed(seed, pair_id, variant, "garment"))
        cloth = self.garment(image=cloth)["image"]
        # A user-declared crop or resize may change the shape; the dataset size is fixed.
        return (
            letterbox(np.ascontiguousarray(person), self.cfg.size, self.cfg.image_pad),
            letterbox(np.ascontiguousarray(cloth), self.cfg.size, self.cfg.cloth_pad),
        )
