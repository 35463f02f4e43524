"""Pretrained reference weights on request: what each file enables, where it goes, and a checked download.

Nothing here runs unless a user asks (``vton weights fetch``): the pipeline never downloads on
its own. Files land where the code looks for them, torch.hub's ``checkpoints`` folder (or
``--dir``), under the exact names the loaders expect. A download is written to ``<name>.part``,
resumed with an HTTP Range request when it was cut, checked against the published SHA-256 and
only then renamed into place, so a half or wrong file is never taken for the real one.

torchvision and torch-fidelity publish the leading hex digits of each file's SHA-256 in its
name (torch.hub's ``check_hash`` convention); those digits are the check used for the real
files. A table entry may carry the full digest instead.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.log import get_logger

log = get_logger(__name__)

_CHUNK = 1 << 16


@dataclass(frozen=True)
class WeightFile:
    """One downloadable checkpoint: its short ``key``, source URL, file name, SHA-256 (or prefix) and use."""

    key: str
    url: str
    filename: str
    sha256: str
    enables: str


# The single table of real sources. Every name here is the one a loader in the code looks for.
WEIGHTS: tuple[WeightFile, ...] = (
    WeightFile("vgg19", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "vgg19-dcbb9e9d.pth", "dcbb9e9d",
               "train_tom.loss_weights.perceptual and .style (VGG19 perceptual and style losses; train_tom.vgg_weights)"),
    WeightFile("alexnet", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "alexnet-owt-7be5be79.pth",
               "7be5be79", "LPIPS in evaluate with evaluate.lpips_net: alex (evaluate.lpips_weights)"),
    WeightFile("vgg16", "https://download.pytorch.org/models/vgg16-397923af.pth", "vgg16-397923af.pth", "397923af",
               "LPIPS in evaluate with evaluate.lpips_net: vgg (evaluate.lpips_weights)"),
    WeightFile("inception",
               "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
               "pt_inception-2015-12-05-6726825d.pth", "6726825d",
               "FID and KID in evaluate (evaluate.inception_weights)"),
)


class FetchError(RuntimeError):
    """A download that failed or did not match its published hash; the message says which and why."""


def hub_checkpoints_dir() -> Path:
    """torch.hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``), found without importing torch."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def select(names: Sequence[str], table: Sequence[WeightFile] = WEIGHTS) -> list[WeightFile]:
    """The table entries named (``all`` = every one); an unknown name raises ``ValueError`` listing the known."""
    known = {w.key: w for w in table}
    if not names or "all" in names:
        return list(table)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown weights {unknown}; choose from {sorted(known)} or all")
    return [known[n] for n in dict.fromkeys(names)]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(digest: str, published: str) -> bool:
    """Whether a file's hex ``digest`` is the ``published`` SHA-256 or starts with its published prefix."""
    return bool(published) and digest.startswith(published.lower())


def fetch(entry: WeightFile, folder: Path, timeout_s: float = 30.0, progress: bool = True) -> Path:
    """Download ``entry`` into ``folder`` (resuming a ``.part`` left by a cut download) and return its path.

    A file already in place with the right hash is kept as it is. Raises :class:`FetchError` on an
    HTTP error, a cut connection (the ``.part`` stays, to resume) or a hash mismatch (the bad
    download is deleted).
    """
    import requests
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    target, part = folder / entry.filename, folder / f"{entry.filename}.part"
    if target.is_file():
        if matches(sha256_of(target), entry.sha256):
            log.info("weights already present", key=entry.key, path=target)
            return target
        raise FetchError(f"{target} exists but its SHA-256 does not match the published {entry.sha256}; "
                         "delete it and fetch again")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with requests.get(entry.url, headers=headers, stream=True, timeout=timeout_s) as resp:
            if resp.status_code == 416 and have:
                # The .part already holds the whole body; the hash check below decides.
                total = have
            else:
                if resp.status_code not in (200, 206):
                    raise FetchError(f"{entry.url} answered HTTP {resp.status_code}; {entry.filename} was not fetched")
                if resp.status_code == 200:
                    have = 0  # the server ignored the Range: start again
                length = resp.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                mode = "ab" if have else "wb"
                with part.open(mode) as fh, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                 desc=entry.filename, disable=not progress) as bar:
                    for chunk in resp.iter_content(_CHUNK):
                        fh.write(chunk)
                        bar.update(len(chunk))
    except requests.RequestException as exc:
        size = part.stat().st_size if part.is_file() else 0
        raise FetchError(f"downloading {entry.filename} from {entry.url} failed after {size} bytes ({exc}); "
                         "run the same command again to resume") from exc
    size = part.stat().st_size
    if total is not None and size < total:
        raise FetchError(f"{entry.filename}: the connection closed at {size} of {total} bytes; "
                         "run the same command again to resume")
    digest = sha256_of(part)
    if not matches(digest, entry.sha256):
        part.unlink()
        raise FetchError(f"{entry.filename}: SHA-256 {digest} does not match the published {entry.sha256}; "
                         "the download was deleted")
    os.replace(part, target)
    log.info("weights fetched", key=entry.key, path=target, bytes=size)
    return target


def status(folder: Path, table: Sequence[WeightFile] = WEIGHTS) -> list[tuple[WeightFile, Path, bool]]:
    """``(entry, path, present)`` for every table entry in ``folder`` (presence by name; ``fetch`` checks hashes)."""
    return [(w, folder / w.filename, (folder / w.filename).is_file()) for w in table]
