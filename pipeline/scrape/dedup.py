"""Exact (sha256 of the downloaded bytes) and near (perceptual hash) duplicate detection."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def phash_hex(img: Image.Image) -> str:
    """The 64-bit DCT perceptual hash of ``img`` as 16 hex digits."""
    return str(imagehash.phash(img))


class Deduplicator:
    """Remembers kept images and says whether a new one repeats one of them."""

    def __init__(self, max_distance: int = 4) -> None:
        self.max_distance = max_distance
        self._by_sha: dict[str, str] = {}
        self._hashes = np.zeros(64, dtype=np.uint64)
        self._owners: list[str] = []

    def __len__(self) -> int:
        return len(self._owners)

    def match(self, sha256: str, phash: str) -> tuple[str, str] | None:
        """``(reason, sha256 of the kept twin)`` for a duplicate, else None."""
        if sha256 in self._by_sha:
            return "duplicate_exact", sha256
        n = len(self._owners)
        if n == 0 or self.max_distance < 0:
            return None
        # Vectorised Hamming distance against every kept hash: fast enough for 10^5 images.
        xor = np.bitwise_xor(self._hashes[:n], np.uint64(int(phash, 16)))
        distances = _POPCOUNT[xor.view(np.uint8)].reshape(n, 8).sum(axis=1)
        best = int(np.argmin(distances))
        if int(distances[best]) <= self.max_distance:
            return "duplicate_near", self._owners[best]
        return None

    def add(self, sha256: str, phash: str) -> None:
        """Remember a kept image."""
        if sha256 in self._by_sha:
            return
        n = len(self._owners)
        if n == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros(n, dtype=np.uint64)])
        self._hashes[n] = np.uint64(int(phash, 16))
        self._owners.append(sha256)
        self._by_sha[sha256] = phash
