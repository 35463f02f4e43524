"""The ``scrape`` stage on the embedded demo shop: outputs, metrics, and a resume on a new port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.scrape import COLUMNS, DEMO_PUBLIC_BASE, read_manifest

demoshop = pytest.importorskip("pipeline.demoshop")


def test_stage_crawls_demo_shop_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"scrape": {
        "http": {"per_host_delay_s": 0.0, "retries": 1, "backoff_s": 0.01},
        "progress": False,
        "demo_shop": {"seed": 3, "products": 3, "per_page": 2},
        "sources": [{"name": "demo", "kind": "demo", "start_urls": ["/catalog"], "mode": "jsonld"}],
    }}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("VTON_PARAMS", str(tmp_path / "params.yaml"))
    monkeypatch.chdir(tmp_path)
    from stages import scrape as stage

    stage.main()
    manifest = read_manifest(tmp_path / "data" / "scrape")
    first = json.loads((tmp_path / "metrics" / "scrape.json").read_text())
    assert list(manifest.columns) == COLUMNS and len(manifest) == first["items_out"] > 0
    assert first["items_in"] == first["items_out"] + sum(
        v for k, v in first["skipped"].items() if not k.startswith("page_"))
    # The shop's random port never reaches the outputs, so a rerun on a new port reuses everything.
    assert manifest["image_url"].str.startswith(DEMO_PUBLIC_BASE + "/").all()
    assert manifest["page_url"].str.startswith(DEMO_PUBLIC_BASE + "/").all()
    for path in manifest["path"]:
        assert path.startswith("data/scrape/images/") and (tmp_path / path).is_file()
    # The shop's traps (robots-disallowed product, dangling image, duplicate garment) are counted skips.
    assert first["skipped"].get("page_robots_disallowed", 0) >= 1
    stage.main()
    second = json.loads((tmp_path / "metrics" / "scrape.json").read_text())
    assert second["images_fetched"] == 0 and second["images_reused"] == first["items_out"]
    assert read_manifest(tmp_path / "data" / "scrape").equals(manifest)
