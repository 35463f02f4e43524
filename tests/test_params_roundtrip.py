"""`dvc exp run -S` rewrites params.yaml through DVC's YAML modifier: the file must come back as it was, but for the value set."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path

from dvc.utils.serialize import MODIFIERS

REPO = Path(__file__).resolve().parents[1]


def _committed_params(tmp_path: Path) -> Path:
    """The committed params.yaml (not the user's working copy), or the working one outside git."""
    target = tmp_path / "params.yaml"
    done = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=REPO, capture_output=True)
    if done.returncode == 0:
        target.write_bytes(done.stdout)
    else:
        shutil.copy(REPO / "params.yaml", target)
    return target


def test_setting_one_param_changes_one_line_and_keeps_every_comment(tmp_path: Path) -> None:
    path = _committed_params(tmp_path)
    before = path.read_text(encoding="utf-8")
    with MODIFIERS[".yaml"](path) as data:  # what `dvc exp run -S train_tom.lr=0.0003` runs
        data["train_tom"]["lr"] = 0.0003
    after = path.read_text(encoding="utf-8")
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2 and changed[0].startswith("-  lr:") and changed[1] == "+  lr: 0.0003", changed
    comments = lambda text: [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]  # noqa: E731
    assert comments(after) == comments(before) and len(comments(before)) > 40
