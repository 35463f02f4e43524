"""Resize pairs to the dataset resolution and multiply training pairs with seeded augmentations."""

from pipeline.augment.config import AugmentConfig
from pipeline.augment.dataset import augment_pairs, process_pair, read_pairs
from pipeline.augment.letterbox import border_colour, letterbox
from pipeline.augment.transforms import build_compose, build_transform
from pipeline.augment.variants import PairAugmenter, derive_seed

__all__ = [
    "AugmentConfig", "PairAugmenter", "augment_pairs", "border_colour", "build_compose", "build_transform",
    "derive_seed", "letterbox", "process_pair", "read_pairs",
]
