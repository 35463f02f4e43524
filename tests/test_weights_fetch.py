"""`vton weights`: checked, resumable downloads against a loopback server serving stand-in files."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.weights import WEIGHTS, FetchError, WeightFile, fetch, hub_checkpoints_dir, select

BODY = os.urandom(300_000)
GOOD_SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/good``: the body (honouring Range); ``/cut-once``: half the body then a closed connection on the
    first request, honouring Range after; ``/truncated``: always cut; ``/missing``: 404."""

    cut_once_served = False
    requests_seen: list[tuple[str, str | None]] = []

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        range_header = self.headers.get("Range")
        type(self).requests_seen.append((self.path, range_header))
        if self.path == "/missing":
            self.send_error(404)
            return
        start = int(range_header.split("=")[1].rstrip("-")) if range_header else 0
        cut = self.path == "/truncated" or (self.path == "/cut-once" and not type(self).cut_once_served)
        if self.path == "/cut-once" and cut:
            type(self).cut_once_served = True
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(BODY) - start))
        self.end_headers()
        payload = BODY[start:]
        self.wfile.write(payload[: len(payload) // 2] if cut else payload)
        if cut:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.cut_once_served = False
    _Handler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _entry(url: str, sha: str = GOOD_SHA, name: str = "standin.pth") -> WeightFile:
    return WeightFile("standin", url, name, sha, "a test")


def test_good_file_lands_under_its_name(server: str, tmp_path: Path) -> None:
    path = fetch(_entry(f"{server}/good"), tmp_path, progress=False)
    assert path == tmp_path / "standin.pth" and path.read_bytes() == BODY
    assert not (tmp_path / "standin.pth.part").exists()
    # A second fetch keeps the checked file and downloads nothing.
    fetch(_entry(f"{server}/good"), tmp_path, progress=False)
    assert len(_Handler.requests_seen) == 1


def test_published_prefix_is_enough(server: str, tmp_path: Path) -> None:
    assert fetch(_entry(f"{server}/good", sha=GOOD_SHA[:8]), tmp_path, progress=False).read_bytes() == BODY


def test_wrong_hash_is_refused_and_deleted(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="does not match the published"):
        fetch(_entry(f"{server}/good", sha="0" * 64), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_not_taken_for_the_file(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="resume"):
        fetch(_entry(f"{server}/truncated"), tmp_path, progress=False)
    assert not (tmp_path / "standin.pth").exists()
    assert 0 < (tmp_path / "standin.pth.part").stat().st_size < len(BODY)


def test_404_names_the_status(server: str, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(_entry(f"{server}/missing"), tmp_path, progress=False)
    assert not (tmp_path / "standin.pth").exists()


def test_cut_download_resumes_with_a_range_request(server: str, tmp_path: Path) -> None:
    entry = _entry(f"{server}/cut-once")
    with pytest.raises(FetchError):
        fetch(entry, tmp_path, progress=False)
    partial = (tmp_path / "standin.pth.part").stat().st_size
    assert fetch(entry, tmp_path, progress=False).read_bytes() == BODY
    assert _Handler.requests_seen[-1] == ("/cut-once", f"bytes={partial}-")


def test_table_names_are_the_files_the_loaders_look_for() -> None:
    from pipeline.evaluate.reference_nets import INCEPTION_FILE, LPIPS_BACKBONE_FILES
    from pipeline.models.vgg import VGG19_FILE

    names = {w.filename for w in WEIGHTS}
    assert {VGG19_FILE, INCEPTION_FILE, *LPIPS_BACKBONE_FILES.values()} == names
    # Each file name carries the SHA-256 prefix it is checked against.
    assert all(w.sha256 in w.filename and len(w.sha256) >= 8 for w in WEIGHTS)
    assert [w.key for w in select(["all"])] == [w.key for w in WEIGHTS]
    with pytest.raises(ValueError, match="unknown weights"):
        select(["resnet"])


def test_hub_folder_is_torchs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub_checkpoints_dir() == Path(torch.hub.get_dir()) / "checkpoints"


def test_list_command_shows_missing_and_what_each_enables(tmp_path: Path) -> None:
    (tmp_path / "vgg19-dcbb9e9d.pth").write_bytes(b"x")
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "weights", "list", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.startswith("vgg19") and "present" in line for line in lines)
    assert any(line.startswith("inception") and "missing" in line for line in lines)
    assert "evaluate.inception_weights" in proc.stdout
    # The weights installed with the project come first, verified against their pinned hashes.
    for key in ("lpips-alex", "lpips-vgg16", "fid-inception"):
        assert any(line.startswith(key) and "present" in line for line in lines), key
    assert "train_tom.loss_weights.perceptual" in proc.stdout and "evaluate.lpips_net" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "pipeline.cli", "weights", "fetch", "resnet", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown weights" in bad.stderr
