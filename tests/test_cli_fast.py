"""The ``vton`` command answers help and bad input without loading models or heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_HEAVY = ("torch", "mediapipe", "fastapi", "mlflow", "cv2")


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {_HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("HEAVY="), proc.stderr
    return {m for m in line.removeprefix("HEAVY=").split(",") if m}


def test_top_level_help_imports_no_heavy_library() -> None:
    assert _modules_after(["--help"]) == set()


def test_subcommand_help_lists_its_own_options() -> None:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "tryon", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--garment" in proc.stdout and "--backend" in proc.stdout


@pytest.mark.parametrize("kind", ["missing", "empty", "text"])
def test_tryon_bad_person_fails_before_any_model_loads(kind: str, tmp_path: Path) -> None:
    garment = tmp_path / "garment.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(garment)
    person = tmp_path / "persn.jpg"
    if kind == "empty":
        person.write_bytes(b"")
    elif kind == "text":
        person.write_text("not a picture\n")
    code = (
        "import sys\n"
        "from pipeline.cli import main\n"
        f"rc = main(['tryon', '--person', {str(person)!r}, '--garment', {str(garment)!r}, '--output', {str(tmp_path / 'o.png')!r},"
        f" '--model', {str(tmp_path / 'no-model')!r}])\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'mediapipe') if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    # One clear line naming the file; nothing was loaded to get there.
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(person) in lines[0], proc.stderr
    assert {"missing": "does not exist", "empty": "empty_file", "text": "not_an_image"}[kind] in lines[0]
    assert "HEAVY=\n" in proc.stdout or proc.stdout.strip() == "HEAVY="
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("name", ["out.gif", "out.webp", "out"])
def test_tryon_refuses_an_output_name_whose_format_it_cannot_write(name: str, tmp_path: Path) -> None:
    from PIL import Image

    for pic in ("person.png", "garment.png"):
        Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / pic)
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "tryon", "--person", str(tmp_path / "person.png"),
                           "--garment", str(tmp_path / "garment.png"), "--output", str(tmp_path / name)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and ".png, .jpg, .jpeg" in proc.stderr and name in proc.stderr
    assert not (tmp_path / name).exists()
