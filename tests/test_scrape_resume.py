"""Interrupted crawls resume from the journal without fetching finished images again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import pipeline.scrape.crawler as crawler_module
from pipeline.scrape import ScrapeConfig, crawl, read_manifest
from pipeline.stage_metrics import StageMetrics
from tests import scrape_site as s

REPO = Path(__file__).resolve().parents[1]
N = 12


def catalogue(site: s.Site, delay: float = 0.0) -> None:
    links = "".join(f'<a href="/p/{i}">{i}</a>' for i in range(N))
    site.add("/robots.txt", s.respond(404, "no robots here"))
    site.add("/catalog", s.page(links))
    for i in range(N):
        site.add(f"/p/{i}", s.jsonld_page({"@type": "Product", "sku": f"P{i}", "name": f"Item {i}",
                                           "category": "Tops", "image": [f"/img/{i}.jpg"]}))
        handler = s.image(s.encode(s.photo(100 + i, (64, 80))))
        site.add(f"/img/{i}.jpg", s.slow(delay, handler) if delay else handler)


def params(base: str, max_items: int = 100) -> dict[str, Any]:
    return {
        "http": {"retries": 0, "per_host_delay_s": 0.0, "read_timeout_s": 5.0},
        "image_limits": {"min_side": 16},
        "progress": False,
        "sources": [{"name": "shop", "start_urls": [base + "/catalog"], "max_items": max_items}],
    }


@pytest.fixture()
def shop() -> Any:
    site = s.Site()
    catalogue(site)
    with s.serve(site) as base:
        yield site, base


def image_requests(site: s.Site) -> list[str]:
    return site.paths("/img/")


def test_limit_then_resume(shop: Any, tmp_path: Path) -> None:
    site, base = shop
    first = crawl(ScrapeConfig.from_dict(params(base, max_items=5)), tmp_path, StageMetrics("scrape"), path_root=tmp_path)
    assert len(first) == 5 and len(image_requests(site)) == 5
    site.clear_log()
    metrics = StageMetrics("scrape")
    full = crawl(ScrapeConfig.from_dict(params(base)), tmp_path, metrics, path_root=tmp_path)
    assert len(full) == N
    assert sorted(image_requests(site)) == sorted(f"/img/{i}.jpg" for i in range(5, N))
    assert metrics.extra["images_reused"] == 5 and metrics.extra["images_fetched"] == N - 5
    # Lowering the limit again prunes files and manifest rows beyond it.
    crawl(ScrapeConfig.from_dict(params(base, max_items=3)), tmp_path, StageMetrics("scrape"), path_root=tmp_path)
    assert len(read_manifest(tmp_path)) == 3 and len(list((tmp_path / "images").iterdir())) == 3


def test_crash_midway_keeps_fetched_items(shop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, base = shop
    real_store = crawler_module.store_image
    calls = {"n": 0}

    def failing_store(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 4:
            raise OSError(28, "No space left on device")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(crawler_module, "store_image", failing_store)
    with pytest.raises(OSError):
        crawl(ScrapeConfig.from_dict(params(base)), tmp_path, StageMetrics("scrape"), path_root=tmp_path)
    assert not (tmp_path / "manifest.csv").exists()
    journaled = [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]
    assert len(journaled) == 4 and all(e["status"] == "kept" for e in journaled)
    monkeypatch.setattr(crawler_module, "store_image", real_store)
    site.clear_log()
    frame = crawl(ScrapeConfig.from_dict(params(base)), tmp_path, StageMetrics("scrape"), path_root=tmp_path)
    assert len(frame) == N
    done = {e["image_url"].rsplit("/", 1)[-1] for e in journaled}
    asked = {p.rsplit("/", 1)[-1] for p in image_requests(site)}
    assert not done & asked and len(asked) == N - 4


def test_killed_stage_resumes_without_refetching(tmp_path: Path) -> None:
    site = s.Site()
    catalogue(site, delay=0.15)
    with s.serve(site) as base:
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"scrape": params(base)}))
        env = {**os.environ, "VTON_PARAMS": str(tmp_path / "params.yaml"),
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, "-m", "stages.scrape"], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(image_requests(site)) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        out = tmp_path / "data" / "scrape"
        journal = (out / "journal.jsonl").read_text().splitlines()
        done = {json.loads(line)["image_url"].rsplit("/", 1)[-1] for line in journal if line.strip()}
        assert 3 <= len(done) < N and not (out / "manifest.csv").exists()
        first_asked = set(image_requests(site))
        site.clear_log()
        rerun = subprocess.run([sys.executable, "-m", "stages.scrape"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        asked = {p.rsplit("/", 1)[-1] for p in image_requests(site)}
    assert not done & asked, "finished images were fetched again"
    assert done | asked == {f"{i}.jpg" for i in range(N)}
    # At most the image in flight when the process died is asked twice.
    assert len({f"/img/{a}" for a in asked} & first_asked) <= 1
    manifest = read_manifest(out)
    assert len(manifest) == N and manifest["path"].str.startswith("data/scrape/images/").all()
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(Path(p).name for p in manifest["path"])
    metrics = json.loads((tmp_path / "metrics" / "scrape.json").read_text())
    assert metrics["items_out"] == N and metrics["images_reused"] == len(done)


def test_page_and_per_product_limits(shop: Any, tmp_path: Path) -> None:
    site, base = shop
    p = params(base)
    p["sources"][0]["max_pages"] = 3  # the catalogue and two products
    metrics = StageMetrics("scrape")
    frame = crawl(ScrapeConfig.from_dict(p), tmp_path / "a", metrics, path_root=tmp_path)
    assert len(frame) == 2 and metrics.extra["pages_fetched"] == 3
    assert [x for x in site.paths() if x.startswith("/p/")] == ["/p/0", "/p/1"]
    site.add("/p/0", s.jsonld_page({"@type": "Product", "sku": "P0", "image": [f"/img/{i}.jpg" for i in range(4)]}))
    p["sources"][0].update(max_pages=2, max_images_per_product=2)
    metrics = StageMetrics("scrape")
    frame = crawl(ScrapeConfig.from_dict(p), tmp_path / "b", metrics, path_root=tmp_path)
    assert list(frame.image_url) == [f"{base}/img/0.jpg", f"{base}/img/1.jpg"] and metrics.items_in == 2
