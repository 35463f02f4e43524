"""The model set that ships with the project (``models/viton256``): where it is, what it holds, and whether it is intact.

A release folder holds the GMM and TOM (``gmm/``, ``tom/``: ``model.pt`` + ``meta.json``, the
layout the inference engine loads as a bundle), the learned parser (``parser/``) and the pose
refiner (``pose_refiner/``), a ``MODEL_CARD.md`` and ``SHA256SUMS`` (``sha256sum -c`` format) of
every other file. The checksums are checked before anything is loaded from such a folder, so a
truncated download or a hand-edited weight file is refused with its name instead of serving
garbage or failing deep inside ``torch.load``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models" / "viton256"
CHECKSUMS = "SHA256SUMS"
CARD = "MODEL_CARD.md"
LICENCE = "LICENSE"
GMM, TOM, PARSER, POSE_REFINER = "gmm", "tom", "parser", "pose_refiner"
USE_NOTE = "trained on VITON: research use only, see its MODEL_CARD.md"


class CorruptModel(ValueError):
    """A file of a release folder is missing or does not match its recorded SHA-256."""


def sha256(path: Path) -> str:
    """The file's SHA-256 as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checksums(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from ``root/SHA256SUMS``; {} when the folder has none."""
    path = root / CHECKSUMS
    if not path.is_file():
        return {}
    sums: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise CorruptModel(f"{path} line {n} is not '<sha256>  <file>'")
        sums[name.strip()] = digest.lower()
    return sums


def write_checksums(root: Path) -> dict[str, str]:
    """Write ``root/SHA256SUMS`` for every file under ``root`` except itself and the card (which lists them)."""
    sums = {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (CHECKSUMS, CARD)}
    (root / CHECKSUMS).write_text("".join(f"{d}  {n}\n" for n, d in sums.items()), encoding="utf-8")
    return sums


def verify(root: Path) -> None:
    """Raise :class:`CorruptModel` naming the first file of ``root/SHA256SUMS`` that is missing or differs."""
    for name, digest in read_checksums(root).items():
        path = root / name
        if not path.is_file():
            raise CorruptModel(f"{path} is missing from the model folder {root} (listed in its {CHECKSUMS}); "
                               "restore it with `git checkout -- " + str(root) + "`")
        actual = sha256(path)
        if actual != digest:
            raise CorruptModel(f"{path} is corrupted: its SHA-256 is {actual[:12]}…, {CHECKSUMS} records {digest[:12]}…; "
                               f"restore it with `git checkout -- {path}` or download the release again")


@dataclass(frozen=True)
class ShippedModel:
    """A verified release folder and its parts."""

    root: Path

    @property
    def gmm(self) -> Path:
        return self.root / GMM

    @property
    def tom(self) -> Path:
        return self.root / TOM

    @property
    def parser(self) -> Path | None:
        return self.root / PARSER if (self.root / PARSER / "parser.onnx").is_file() else None

    @property
    def pose_refiner(self) -> Path | None:
        return self.root / POSE_REFINER if (self.root / POSE_REFINER / "refiner.onnx").is_file() else None

    def describe(self) -> str:
        """One line for metadata, ``/health`` and the page."""
        return f"the shipped model {self.root.name} ({USE_NOTE})"


def find_shipped(root: str | Path | None = None) -> ShippedModel | None:
    """The release folder ``root`` (default :data:`SHIPPED_DIR`) after checking its files; None when there is none.

    Raises :class:`CorruptModel` when it exists but a file does not match its checksum.
    """
    folder = Path(root) if root else SHIPPED_DIR
    if not (folder / TOM / "model.pt").is_file():
        return None
    verify(folder)
    return ShippedModel(folder)
