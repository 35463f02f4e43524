"""Make a throw-away copy of this repository in which real ``dvc`` commands can run.

Integration tests use it to run the pipeline exactly as a user would, without
touching the developer's own workspace, cache or MLflow store.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


# What a user changes by running the pipeline (`dvc exp run -S` rewrites params.yaml): the copy takes
# the committed version, so a user's experiment in the workspace cannot change what the tests see.
USER_STATE = ("params.yaml",)


def _tracked_files(source: Path = REPO) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=source, check=True, capture_output=True, text=True,
    ).stdout
    return [line for line in out.splitlines() if line and (source / line).is_file()]


def _committed(source: Path, rel: str) -> bytes | None:
    """``rel`` as committed at HEAD in ``source``; None when it is not committed."""
    done = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=source, capture_output=True)
    return done.stdout if done.returncode == 0 else None


class DvcProject:
    """A git + DVC copy of the project in ``root`` with helpers to run commands in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = os.environ.copy()
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = bin_dir + os.pathsep + self.env.get("PATH", "")
        self.env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        self.env.pop("VTON_PARAMS", None)

    @classmethod
    def create(cls, root: Path, source: Path = REPO) -> "DvcProject":
        """Copy the working tree's code (tracked and untracked-not-ignored files), with the committed
        :data:`USER_STATE` files, and commit it."""
        root.mkdir(parents=True, exist_ok=True)
        for rel in _tracked_files(source):
            if rel == "dvc.lock":
                continue  # the copy must run its stages, not trust the developer's lock
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            committed = _committed(source, rel) if rel in USER_STATE else None
            if committed is not None:
                dst.write_bytes(committed)
            else:
                shutil.copy2(source / rel, dst)
        project = cls(root)
        project.git("init", "-q")
        project.git("add", "-A")
        project.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy")
        return project

    def git(self, *args: str) -> str:
        return self.run(["git", *args])

    def dvc(self, *args: str) -> str:
        return self.run(["dvc", *args])

    def run(self, cmd: list[str]) -> str:
        proc = subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    def params(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "params.yaml").read_text())

    def set_params(self, updates: dict[str, Any]) -> None:
        """Apply dotted-key updates (``{"augment.variants": 2}``) to params.yaml."""
        data = self.params()
        for dotted, value in updates.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node[key] if not key.isdigit() else node[int(key)]
            if leaf.isdigit():
                node[int(leaf)] = value
            else:
                node[leaf] = value
        (self.root / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def stages_ran(output: str) -> set[str]:
    """Names of stages ``dvc repro`` actually executed, read from its output."""
    ran = set()
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("Running stage '"):
            ran.add(line.split("'")[1])
    return ran
