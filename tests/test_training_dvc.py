"""import_data → train_gmm → warp → train_tom → evaluate as a real DVC pipeline on a tiny data set.

The data set is a synthetic folder in the original VITON layout (LIP parse, COCO-18
pose, JPEG cloth masks) committed to the throw-away repository and named by the one
param ``import_data.source``, as a user would point the pipeline at the real VITON.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.dvc_project import DvcProject, stages_ran
from tests.synthetic_viton import write_viton_style
from tests.train_helpers import GMM_MODEL, TOM_MODEL

pytestmark = pytest.mark.slow

TRAINING = {"import_data", "train_gmm", "warp", "train_tom", "evaluate"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> DvcProject:
    proj = DvcProject.create(tmp_path_factory.mktemp("repo"))
    write_viton_style(proj.root / "tiny_viton", n_train=4, n_val=2)
    common = {"size": [64, 48], "epochs": 2, "batch_size": 2, "device": "cpu"}
    updates = {f"{stage}.{k}": v for stage in ("train_gmm", "train_tom") for k, v in common.items()}
    updates.update({
        "import_data.source": "tiny_viton",
        "import_data.workers": 1,
        "import_data.tune_pairs": 1,  # 3 pairs train, 1 picks the epochs (params.yaml's 12 exceed this set)
        "train_gmm.model": GMM_MODEL,
        "train_tom.model": TOM_MODEL,
        "train_gmm.init_from": None,  # tiny models, from scratch (the shipped ones are another architecture)
        "train_gmm.loss_weights": {"l1": 1.0, "mask": 4.0, "smooth": 0.05},  # no flow in the tiny GMM
        "train_tom.init_from": None,
        "train_tom.discriminator.ndf": 8,
        "warp.device": "cpu",
        "evaluate.device": "cpu",
        "train_parse.size": [64, 48],
        "train_parse.widths": [8, 16],
        "train_parse.epochs": 2,
        "train_parse.batch_size": 2,
        "train_parse.workers": 0,
        "train_parse.device": "cpu",
    })
    proj.set_params(updates)
    proj.git("add", "-A")
    proj.git("commit", "-qm", "tiny data set")
    return proj


def test_repro_trains_and_registers(project: DvcProject) -> None:
    out = project.dvc("repro", "evaluate")
    assert stages_ran(out) == TRAINING  # the data set is a param, not the annotation stages' output
    imported = json.loads((project.root / "metrics/import_data.json").read_text())
    assert imported["pairs"] == {"train": 3, "tune": 1, "test": 2} and imported["skipped_total"] == 0
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
    assert "tom.val_loss" in shown and "model.ssim" in shown
    # Only the headline figures are metrics: no per-stage counts, skips or seconds in the table.
    header = project.dvc("exp", "show", "--csv").splitlines()[0].split(",")
    groups = ("gmm.", "tom.", "model.", "agnostic.", "warped_paste.", "mean_colour.")
    def flat(d: dict, prefix: str = "") -> set[str]:
        return set().union(*[flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"} for k, v in d.items()])

    params = flat(project.params())
    metric_columns = [c for c in header if (c.startswith(groups) or c == "warped_mask_iou") and c not in params]
    assert {"model.ssim", "model.psnr", "agnostic.ssim", "gmm.val_mask_iou", "warped_mask_iou"} <= set(metric_columns)
    # Twenty figures plus the model's three ± half-widths (the headline's bootstrap intervals).
    assert len(metric_columns) <= 23, " ".join(metric_columns)
    assert not [c for c in header if "skipped" in c or c.endswith("seconds") or "items_in" in c]


def test_exp_run_with_new_lr_reruns_only_tom(project: DvcProject) -> None:
    baseline_lr = float(project.params()["train_tom"]["lr"])
    assert baseline_lr != 0.0003
    # Targeted at evaluate: in this copy the annotation stages never ran (the data set is a param),
    # and the imported data set is unchanged, so only the TOM retrains.
    out = project.dvc("exp", "run", "-S", "train_tom.lr=0.0003", "evaluate")
    assert stages_ran(out) == {"train_tom", "evaluate"}
    mlflow.set_tracking_uri(project.env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["vesaki-vton"], filter_string="tags.stage = 'train_tom'")
    assert len(runs) == 2
    assert {float(lr) for lr in runs["params.lr"]} == {baseline_lr, 0.0003}
    # The experiment against the workspace's baseline: the model's SSIM is among the differences.
    diff = project.dvc("metrics", "diff", "HEAD", "--all", "--md")
    assert "model.ssim" in diff


def test_queued_experiments_run_in_the_background(project: DvcProject) -> None:
    """The README's `dvc exp run --queue` then `dvc queue start -j 1`: both experiments finish, and show."""
    import time

    for n in (1, 2):
        project.dvc("exp", "run", "--queue", "-S", f"evaluate.num_samples={n}", "--name", f"samples-{n}", "evaluate")
    project.dvc("queue", "start", "-j", "1")
    deadline = time.monotonic() + 600
    while True:
        status = project.dvc("queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(3)
    for name in ("samples-1", "samples-2"):
        line = next((row for row in status.splitlines() if name in row), "")
        assert "Success" in line, status
    shown = project.dvc("exp", "show", "--no-pager", "--csv")
    assert "samples-1" in shown and "samples-2" in shown
    project.dvc("queue", "stop")


def test_repro_trains_the_parser_on_the_imported_parse_maps(project: DvcProject) -> None:
    project.dvc("repro", "import_data")
    out = project.dvc("repro", "train_parse")
    assert stages_ran(out) == {"train_parse"}
    metrics = json.loads((project.root / "metrics/train_parse.json").read_text())
    assert metrics["epochs"] == 2 and metrics["train_images"] == 3 and metrics["val_split"] == "tune"
    assert metrics["onnx_max_abs_diff"] < 1e-3
    model = project.root / "data/train_parse/model"
    assert (model / "parser.onnx").is_file() and json.loads((model / "meta.json").read_text())["parse"]["onnx_input_size"] == [64, 48]
    client = MlflowClient(tracking_uri=project.env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], "tags.stage = 'train_parse'")
    assert runs and "val_mIoU" in runs[0].data.metrics
    assert stages_ran(project.dvc("repro", "train_parse")) == set()


def test_copies_ignore_the_users_uncommitted_params(tmp_path: Path) -> None:
    """A user's `dvc exp run -S` edits params.yaml in the workspace; the tests' copies use the committed one."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "params.yaml").write_text("train_tom:\n  lr: 0.0002\n")
    (src / "stage.py").write_text("print('v1')\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=src, check=True)
    (src / "params.yaml").write_text("train_tom:\n  lr: 0.0003\n")  # the user's experiment
    (src / "stage.py").write_text("print('v2')\n")  # code being developed is what the tests must see
    copy = DvcProject.create(tmp_path / "copy", source=src)
    assert "0.0002" in (copy.root / "params.yaml").read_text()
    assert "v2" in (copy.root / "stage.py").read_text()
