"""Settings of the embedded demo shop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.config_mapping import from_mapping

BASE_PHOTOS: tuple[str, ...] = ("grace_hopper", "astronaut")


@dataclass(frozen=True)
class DemoShopConfig:
    """What the demo catalogue holds and how its images look.

    ``seed`` fixes everything: the same seed gives byte-identical images and
    pages (apart from the host:port in absolute URLs).
    """

    seed: int = 0
    products: int = 24
    per_page: int = 8
    image_width: int = 768
    image_height: int = 1024
    jpeg_quality: int = 92
    # Photos that ship inside installed packages; see persons.BASE_LOADERS.
    base_photos: tuple[str, ...] = BASE_PHOTOS
    # The build re-draws a product's look until every image is at least this far
    # (perceptual-hash Hamming distance) from all others, so the crawler's
    # near-duplicate filter never eats a real product.
    min_phash_distance: int = 10
    # Add a robots-disallowed product, a dangling image link and a duplicate garment,
    # so a default crawl exercises the crawler's defences.
    traps: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.products <= 1000:
            raise ValueError(f"demo shop: products must be in 1..1000, got {self.products}")
        if self.per_page < 1:
            raise ValueError(f"demo shop: per_page must be >= 1, got {self.per_page}")
        if min(self.image_width, self.image_height) < 64 or max(self.image_width, self.image_height) > 4096:
            raise ValueError(
                f"demo shop: image size {self.image_width}x{self.image_height} is outside 64..4096 px"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"demo shop: jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        unknown = [p for p in self.base_photos if p not in BASE_PHOTOS]
        if unknown or not self.base_photos:
            raise ValueError(
                f"demo shop: base_photos must be a non-empty subset of {list(BASE_PHOTOS)}, "
                f"got {list(self.base_photos)}"
            )
        if not 0 <= self.min_phash_distance <= 32:
            raise ValueError(f"demo shop: min_phash_distance must be in 0..32, got {self.min_phash_distance}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "DemoShopConfig":
        """Build from a params block, rejecting keys this config does not know."""
        return from_mapping(cls, data, "demo shop")
