"""train_gmm → warp → train_tom → evaluate as a real DVC pipeline on a tiny data set.

The data set is a synthetic VITON-HD-layout folder committed to the throw-away
repository and named through the stages' ``dataset`` params, as a user would
point them at the real VITON-HD.
"""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.dvc_project import DvcProject, stages_ran
from tests.synthetic_viton import write_synthetic_viton
from tests.train_helpers import GMM_MODEL, TOM_MODEL

pytestmark = pytest.mark.slow

TRAINING = {"train_gmm", "warp", "train_tom", "evaluate"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DvcProject:
    proj = DvcProject.create(tmp_path_factory.mktemp("repo"))
    write_synthetic_viton(proj.root / "tiny_viton", n_train=4, n_test=2, size=(64, 48))
    common = {"dataset": "tiny_viton", "size": [64, 48], "epochs": 2, "batch_size": 2, "device": "cpu"}
    updates = {f"{stage}.{k}": v for stage in ("train_gmm", "train_tom") for k, v in common.items()}
    updates.update({
        "train_gmm.model": GMM_MODEL,
        "train_tom.model": TOM_MODEL,
        "train_tom.discriminator.ndf": 8,
        "warp.dataset": "tiny_viton",
        "warp.device": "cpu",
        "evaluate.dataset": "tiny_viton",
        "evaluate.device": "cpu",
    })
    proj.set_params(updates)
    proj.git("add", "-A")
    proj.git("commit", "-qm", "tiny data set")
    return proj


def test_repro_trains_and_registers(project: DvcProject) -> None:
    out = project.dvc("repro", "evaluate")
    assert stages_ran(out) == TRAINING  # the data set is a param, not the annotation stages' output
    root = project.root
    for stage in ("train_gmm", "train_tom"):
        metrics = json.loads((root / f"metrics/{stage}.json").read_text())
        assert metrics["epochs"] == 2, stage
        history = (root / f"metrics/{stage}_history.csv").read_text().splitlines()
        assert len(history) == 1 + 2, stage  # header + one row per epoch
        assert (root / f"data/{stage}/model/model.pt").is_file()
    evaluation = json.loads((root / "metrics/evaluate.json").read_text())
    assert evaluation["model"]["ssim"] is not None
    client = MlflowClient(tracking_uri=project.env["MLFLOW_TRACKING_URI"])
    for name in ("vton-gmm", "vton-tom"):
        assert client.search_model_versions(f"name='{name}'"), name
    shown = project.dvc("exp", "show", "--no-pager", "--md")
    assert "val_l1" in shown


def test_exp_run_with_new_lr_reruns_only_tom(project: DvcProject) -> None:
    baseline_lr = float(project.params()["train_tom"]["lr"])
    assert baseline_lr != 0.0003
    # Targeted at evaluate: in this copy the annotation stages never ran (the data set is a param).
    out = project.dvc("exp", "run", "-S", "train_tom.lr=0.0003", "evaluate")
    assert stages_ran(out) == {"train_tom", "evaluate"}
    mlflow.set_tracking_uri(project.env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["vesaki-vton"], filter_string="tags.stage = 'train_tom'")
    assert len(runs) == 2
    assert {float(lr) for lr in runs["params.lr"]} == {baseline_lr, 0.0003}
