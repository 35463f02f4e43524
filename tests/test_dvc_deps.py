"""Every library file a stage imports is one of its DVC deps, so changing it re-runs the stage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _module_file(name: str) -> Path | None:
    """The source file of an in-project module (``pipeline.x.y`` or ``stages.x``), without importing it."""
    parts = name.split(".")
    if parts[0] not in ("pipeline", "stages"):
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Module names imported anywhere in ``path`` (lazy imports inside functions included)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import module``
    return names


def imported_files(entry: Path) -> set[Path]:
    """``entry`` and every in-project file it imports, transitively (parent packages' ``__init__`` too)."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in seen:
                    todo.append(found)
    return seen


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == dep or rel.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_cover_every_imported_library_file(stage: str) -> None:
    spec = _stages()[stage]
    module = spec["cmd"].split("python -m ", 1)[1].split()[0]
    entry = _module_file(module)
    assert entry is not None, f"{stage}: cannot find {module}"
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec["deps"]]
    missing = sorted(
        p.relative_to(ROOT).as_posix()
        for p in imported_files(entry)
        if p.name != "__init__.py" and not _covered(p, deps)
    )
    assert not missing, f"dvc.yaml stage {stage!r} imports files that are not deps: {missing}"


def test_import_walk_follows_lazy_and_package_imports(tmp_path: Path) -> None:
    """The walk sees imports inside functions, so the check above cannot pass by missing them."""
    files = imported_files(ROOT / "stages" / "pose.py")
    rel = {p.relative_to(ROOT).as_posix() for p in files}
    assert "pipeline/annotate/pose.py" in rel and "pipeline/io/atomic.py" in rel
    assert "pipeline/annotate/body25.py" in rel  # imported by pose.py, not by the stage itself
