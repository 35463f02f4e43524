"""`dvc plots show` that draws offline: an HTML template with Vega inlined, set in ``.dvc/config.local``.

DVC's default plots page loads Vega, Vega-Lite and vega-embed from a CDN, so on a machine without
internet the page stays blank. DVC accepts a page template (``plots.html_template``); this module
builds one that carries the same three scripts inline. It takes them from the npm registry with
``npm pack`` (the tarballs are checked against the registry's integrity hashes by npm and kept
in a cache), in the versions the installed DVC itself names, so the specs it writes and the
scripts that draw them stay matched. Nothing is committed: the template and the local config
line are written on each machine (``make demo`` does it; ``python -m pipeline.offline_plots``
by hand).
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.io.atomic import atomic_file

log = logging.getLogger(__name__)

# The library's packages and the file of each that a browser loads as a global script.
SCRIPT_FILES = {"vega": "vega.min.js", "vega-lite": "vega-lite.min.js", "vega-embed": "vega-embed.min.js"}
TEMPLATE_NAME = "plots/offline.html"  # relative to .dvc/, where DVC resolves plots.html_template

_PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
    <meta charset="utf-8">
{inline}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


class OfflinePlotsError(RuntimeError):
    """The offline template cannot be built (npm missing, registry unreachable, odd tarball)."""


@dataclass(frozen=True)
class Script:
    """One package at the version DVC's own page asks for."""

    package: str
    version: str

    @property
    def tarball(self) -> str:
        """The file name ``npm pack`` writes."""
        return f"{self.package}-{self.version}.tgz"


def dvc_scripts() -> list[Script]:
    """The Vega packages and versions the installed DVC's plots page loads from its CDN."""
    from dvc_render.vega import VegaRenderer

    found = dict(re.findall(r"/npm/(vega(?:-lite|-embed)?)@([0-9][0-9A-Za-z.\-]*)", VegaRenderer.SCRIPTS))
    missing = sorted(set(SCRIPT_FILES) - set(found))
    if missing:
        raise OfflinePlotsError(f"the installed DVC's plots page names no version of {', '.join(missing)}")
    return [Script(name, found[name]) for name in SCRIPT_FILES]


def fetch(scripts: list[Script], cache: Path) -> list[Path]:
    """The packages' tarballs in ``cache``, fetched with ``npm pack`` when not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in scripts if not (cache / s.tarball).is_file()]
    if wanted:
        npm = shutil.which("npm")
        if npm is None:
            raise OfflinePlotsError("npm is not installed, so Vega cannot be fetched for the offline plots page "
                                    "(install npm, or let `dvc plots show` use its CDN page)")
        specs = [f"{s.package}@{s.version}" for s in wanted]
        log.info("fetching %s from the npm registry", " ".join(specs))
        done = subprocess.run([npm, "pack", *specs, "--pack-destination", str(cache), "--silent"],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise OfflinePlotsError(f"npm pack {' '.join(specs)} failed: {done.stderr.strip()[-400:]}")
    paths = [cache / s.tarball for s in scripts]
    for path in paths:
        if not path.is_file():
            raise OfflinePlotsError(f"npm pack did not write {path}")
    return paths


def _script_text(tarball: Path, name: str) -> str:
    member = f"package/build/{name}"
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(member)
            text = handle.read().decode("utf-8")
    except (KeyError, tarfile.TarError, OSError, UnicodeDecodeError) as exc:
        raise OfflinePlotsError(f"{tarball}: no readable {member} ({exc})") from exc
    if "</script" in text.lower():
        # Inlined, such a string would end the <script> element early.
        raise OfflinePlotsError(f"{tarball}: {name} contains '</script' and cannot be inlined")
    return text


def build_template(tarballs: list[Path], scripts: list[Script]) -> str:
    """The page template: DVC's default layout with the scripts inline instead of from the CDN.

    It keeps DVC's ``{plot_divs}`` and ``{refresh_tag}`` placeholders and leaves out ``{scripts}``,
    the CDN tags.
    """
    blocks = [f"    <script>/* {s.package}@{s.version} */\n{_script_text(t, SCRIPT_FILES[s.package])}\n</script>"
              for t, s in zip(tarballs, scripts)]
    return _PAGE.format(inline="\n".join(blocks))


def install(repo: Path, cache: Path) -> Path:
    """Write ``.dvc/plots/offline.html`` in ``repo`` and point its local DVC config at it; returns the template."""
    dvc_dir = repo / ".dvc"
    if not dvc_dir.is_dir():
        raise OfflinePlotsError(f"{repo} is not a DVC repository (no .dvc folder)")
    scripts = dvc_scripts()
    page = build_template(fetch(scripts, cache), scripts)
    target = dvc_dir / TEMPLATE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as f:
        f.write(page)
    target.chmod(0o644)
    # config.local, not the committed config: a clone without the template keeps DVC's CDN page.
    from dvc.config import Config

    with Config(str(dvc_dir)).edit("local") as conf:
        conf.setdefault("plots", {})["html_template"] = TEMPLATE_NAME
    return target


def default_cache() -> Path:
    """Where the npm tarballs are kept between clones."""
    return Path.home() / ".cache" / "vesaki-vton" / "vega"


def main(argv: list[str] | None = None) -> int:
    """Command line: build the template for the repository in the current folder (exit 1 with one line when it cannot)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="DVC repository (default: here)")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where the npm tarballs are kept")
    parser.add_argument("--optional", action="store_true",
                        help="exit 0 when it cannot be built (set-up goes on; dvc plots show keeps its CDN page)")
    args = parser.parse_args(argv)
    try:
        target = install(args.repo.resolve(), args.cache)
    except (OfflinePlotsError, subprocess.TimeoutExpired) as exc:
        print(f"offline plots page not built: {exc}")
        return 0 if args.optional else 1
    print(f"dvc plots show now draws offline (template {target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
