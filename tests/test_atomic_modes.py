"""Atomic outputs get the mode the umask gives a plain file or folder (not mkstemp's 0600 / mkdtemp's 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pipeline.io.atomic import atomic_dir, write_text


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_atomic_outputs_follow_the_umask(tmp_path: Path, umask: int, file_mode: int, dir_mode: int) -> None:
    old = os.umask(umask)
    try:
        write_text(tmp_path / "out.json", "{}")
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "weights.bin").write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "model" / "weights.bin").stat().st_mode) == file_mode
