"""The scrape → classify → augment chain as a real DVC pipeline in a throw-away repository."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.dvc_project import DvcProject, stages_ran

pytestmark = pytest.mark.slow

FRONT = ["scrape", "classify", "augment"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DvcProject:
    proj = DvcProject.create(tmp_path_factory.mktemp("repo"))
    proj.set_params({
        "scrape.demo_shop.products": 6,
        "augment.variants": 2,
        "augment.size": [192, 256],
    })
    proj.git("commit", "-qam", "tiny demo")
    return proj


def test_first_repro_builds_the_three_stages(project: DvcProject) -> None:
    out = project.dvc("repro", "augment")
    assert stages_ran(out) == set(FRONT)
    root = project.root
    manifest = pd.read_csv(root / "data/scrape/manifest.csv")
    assert len(manifest) >= 2 * 6 - 2  # a garment and a person photo per product, minus planted faults
    assert manifest["sha256"].is_unique
    for stage in FRONT:
        metrics = json.loads((root / f"metrics/{stage}.json").read_text())
        assert metrics["items_out"] > 0, stage
        assert "skipped" in metrics and "seconds" in metrics
    scrape_metrics = json.loads((root / "metrics/scrape.json").read_text())
    assert scrape_metrics["skipped_total"] >= 1  # the shop plants a robots-disallowed page and a broken image
    pairs = pd.read_csv(root / "data/classify/pairs.csv")
    assert set(pairs["split"]) == {"train", "test"}
    assert not (set(pairs[pairs.split == "train"].product_id) & set(pairs[pairs.split == "test"].product_id))
    train_names = (root / "data/augment/train_pairs.txt").read_text().split()
    assert len(train_names) == 2 * 2 * int((pairs.split == "train").sum())
    for name in train_names[::2]:
        assert (root / "data/augment/train/image" / name).is_file()
        assert (root / "data/augment/train/cloth" / name).is_file()
    assert "scrape" in project.dvc("dag", "augment")


def test_second_repro_changes_nothing(project: DvcProject) -> None:
    out = project.dvc("repro", "augment")
    assert stages_ran(out) == set()
    status = project.dvc("status", "augment")
    assert "up to date" in status


def test_param_change_reruns_only_downstream(project: DvcProject) -> None:
    project.set_params({"augment.seed": 123})
    assert stages_ran(project.dvc("repro", "augment")) == {"augment"}
    project.set_params({"classify.test_fraction": 0.5})
    assert stages_ran(project.dvc("repro", "augment")) == {"classify", "augment"}


def test_freeze_and_the_refresh_recipe(project: DvcProject) -> None:
    """README's recipe: freeze keeps the snapshot with a one-line dvc.yaml change; the refresh crawls again."""
    project.git("add", "-A")
    project.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "before freeze", "--allow-empty")
    project.dvc("freeze", "scrape")
    diff = [ln for ln in project.git("diff", "-U0", "dvc.yaml").splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert diff == ["+    frozen: true"], diff
    assert stages_ran(project.dvc("repro", "scrape")) == set()  # frozen: not crawled again
    project.dvc("unfreeze", "scrape")
    assert project.git("diff", "dvc.yaml") == ""
    out = project.dvc("repro", "-f", "scrape")  # the documented refresh: a deliberate re-crawl
    assert stages_ran(out) == {"scrape"}
    project.dvc("freeze", "scrape")
