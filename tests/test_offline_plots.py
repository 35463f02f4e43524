"""`dvc plots show` with the offline page template (pipeline.offline_plots): real DVC, real Chromium, no network."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline.offline_plots import (
    SCRIPT_FILES,
    OfflinePlotsError,
    Script,
    build_template,
    default_cache,
    dvc_scripts,
    fetch,
    install,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _tarball(path: Path, member: str, text: str) -> Path:
    data = text.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def _stand_ins(folder: Path, scripts: list[Script]) -> list[Path]:
    return [_tarball(folder / s.tarball, f"package/build/{SCRIPT_FILES[s.package]}", f"window['{s.package}'] = 1;")
            for s in scripts]


def test_dvc_names_the_three_scripts_with_versions() -> None:
    scripts = dvc_scripts()
    assert [s.package for s in scripts] == ["vega", "vega-lite", "vega-embed"]
    assert all(s.version[0].isdigit() for s in scripts)


def test_template_inlines_the_scripts_and_keeps_dvcs_placeholders(tmp_path: Path) -> None:
    scripts = dvc_scripts()
    page = build_template(_stand_ins(tmp_path, scripts), scripts)
    assert "{plot_divs}" in page and "{refresh_tag}" in page
    assert "{scripts}" not in page and "cdn." not in page and "<script src" not in page
    for s in scripts:
        assert f"window['{s.package}'] = 1;" in page and f"{s.package}@{s.version}" in page


def test_unusable_tarballs_are_refused(tmp_path: Path) -> None:
    scripts = [Script("vega", "5.0.0")]
    closing = _tarball(tmp_path / "a.tgz", "package/build/vega.min.js", "var s = '</script>';")
    with pytest.raises(OfflinePlotsError, match="cannot be inlined"):
        build_template([closing], scripts)
    elsewhere = _tarball(tmp_path / "b.tgz", "package/vega.js", "1")
    with pytest.raises(OfflinePlotsError, match="no readable package/build/vega.min.js"):
        build_template([elsewhere], scripts)
    (tmp_path / "c.tgz").write_bytes(b"not a tarball")
    with pytest.raises(OfflinePlotsError, match="no readable"):
        build_template([tmp_path / "c.tgz"], scripts)


def test_fetch_uses_the_cache_and_says_when_npm_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = dvc_scripts()
    cached = _stand_ins(tmp_path, scripts)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no npm anywhere
    assert fetch(scripts, tmp_path) == cached
    with pytest.raises(OfflinePlotsError, match="npm is not installed"):
        fetch(scripts, tmp_path / "other")


def _dvc(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's package when it can)")
def test_dvc_plots_show_draws_with_no_network(tmp_path: Path) -> None:
    cache = default_cache()
    scripts = dvc_scripts()
    if not all((cache / s.tarball).is_file() for s in scripts):
        pytest.skip(f"Vega's npm tarballs are not in {cache} (make test fetches them with npm when it can)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    repo = tmp_path / "repo"
    repo.mkdir()
    _dvc(["init", "--no-scm", "-q"], repo)
    (repo / "history.csv").write_text("epoch,val_l1\n1,0.30\n2,0.25\n3,0.21\n", encoding="utf-8")
    (repo / "dvc.yaml").write_text("plots:\n  - history.csv:\n      x: epoch\n      y: val_l1\n", encoding="utf-8")
    install(repo, cache)
    _dvc(["plots", "show", "-q"], repo)
    html = (repo / "dvc_plots" / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html
    off_machine: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()

        def only_files(route: object) -> None:
            url = route.request.url  # type: ignore[attr-defined]
            if url.startswith("file://"):
                route.continue_()  # type: ignore[attr-defined]
            else:
                off_machine.append(url)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", only_files)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto((repo / "dvc_plots" / "index.html").as_uri())
        # vega-embed draws the chart into a canvas inside the plot's div.
        page.wait_for_selector("canvas", timeout=15_000)
        box = page.locator("canvas").first.bounding_box()
        browser.close()
    assert off_machine == [] and errors == []
    assert box is not None and box["width"] > 100 and box["height"] > 100
