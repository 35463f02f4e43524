"""Pair each person photo with its product's garment shot, and split products into train/test.

Pairing rule: within one ``(source, product_id)``, every person image is paired with
the product's *primary* garment image, the one with the lowest ``image_index`` (shops
list the front packshot first; ties broken by path). Products with persons but no
garment, or garments but no person, give no pair. Extra garment images (back views,
details) are left unpaired on purpose: a back view is not what the person is wearing
from the front.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from pipeline.classify.verdict import GARMENT, PERSON

ProductKey = tuple[str, str]


@dataclass(frozen=True)
class ImageRecord:
    """The few fields of one classified image that pairing needs."""

    path: str
    source: str
    product_id: str
    image_index: int
    label: str
    category: str


@dataclass(frozen=True)
class Pair:
    """A person image and the garment it wears, from the same product and source."""

    pair_id: str
    source: str
    product_id: str
    category: str
    person_path: str
    garment_path: str
    split: str = ""


def slug(text: str, max_len: int = 40) -> str:
    """Lowercase ``[a-z0-9-]`` form of ``text`` (never empty), safe in any file name."""
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:max_len].strip("-")
    return s or "x"


def build_pairs(records: Iterable[ImageRecord]) -> list[Pair]:
    """Pairs of every product with at least one person and one garment (see module doc)."""
    persons: dict[ProductKey, list[ImageRecord]] = defaultdict(list)
    garments: dict[ProductKey, list[ImageRecord]] = defaultdict(list)
    for rec in records:
        if rec.label == PERSON:
            persons[(rec.source, rec.product_id)].append(rec)
        elif rec.label == GARMENT:
            garments[(rec.source, rec.product_id)].append(rec)
    pairs: list[Pair] = []
    used: set[str] = set()
    for key in sorted(set(persons) & set(garments)):
        garment = min(garments[key], key=lambda r: (r.image_index, r.path))
        for person in sorted(persons[key], key=lambda r: (r.image_index, r.path)):
            base = f"{slug(key[0], 24)}-{slug(key[1])}-{PurePosixPath(person.path).stem[:8].lower()}"
            pair_id, n = base, 1
            while pair_id in used:
                n += 1
                pair_id = f"{base}-{n}"
            used.add(pair_id)
            category = garment.category or person.category
            pairs.append(Pair(pair_id, key[0], key[1], category, person.path, garment.path))
    return pairs


def _unit_hash(seed: int, key: ProductKey) -> float:
    digest = hashlib.sha256(f"{seed}\x00{key[0]}\x00{key[1]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_products(keys: Iterable[ProductKey], test_fraction: float, seed: int) -> dict[ProductKey, str]:
    """Assign each product to ``train`` or ``test``; a product is never split.

    Each product draws a number from a hash of ``(seed, source, product_id)`` and goes
    to test when it is below ``test_fraction``, so adding products never moves existing
    ones. With two or more products at least one lands in test and one in train.
    """
    draws = {key: _unit_hash(seed, key) for key in set(keys)}
    split = {key: ("test" if u < test_fraction else "train") for key, u in draws.items()}
    if len(draws) >= 2:
        ranked = sorted(draws, key=lambda k: (draws[k], k))
        if test_fraction > 0 and "test" not in split.values():
            split[ranked[0]] = "test"
        if "train" not in split.values():
            split[ranked[-1]] = "train"
    return split


def assign_splits(pairs: list[Pair], test_fraction: float, seed: int) -> list[Pair]:
    """Return ``pairs`` with ``split`` filled in by product (see :func:`split_products`)."""
    split = split_products(((p.source, p.product_id) for p in pairs), test_fraction, seed)
    return [Pair(**{**p.__dict__, "split": split[(p.source, p.product_id)]}) for p in pairs]
