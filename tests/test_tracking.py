"""MLflow tracking of a training stage in a temporary SQLite store, read back with MlflowClient."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
import torch
from mlflow.tracking import MlflowClient

from pipeline.annotate.agnostic import AgnosticConfig
from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.dataset.annotation_record import annotation_record, read_annotation, write_annotation
from pipeline.infer.models import load_models
from pipeline.infer.types import EngineConfig
from pipeline.tracking.mlflow_run import tracking_uri
from pipeline.train.data import VitonDataset
from pipeline.train.export import GMMExport, TOMExport
from pipeline.train.inputs import cloth_input, person_input
from pipeline.train.model_io import load_model
from pipeline.train.stage_runner import StagePaths, run_training_stage
from tests.train_helpers import synthetic_with_warps, tiny_cfg

REPO = Path(__file__).resolve().parents[1]
ANNOTATION = annotation_record({"mp_skin_threshold": 2.5}, {}, AgnosticConfig(cover_garment_margin=0.25), ClothMaskConfig(), "test")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """GMM (2 epochs) then TOM (1 epoch) stage runs in one fresh project root announced as DVC_ROOT.

    One store for the module: creating MLflow's SQLite schema alone takes seconds.
    """
    root = tmp_path_factory.mktemp("tracked")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("DVC_ROOT", str(root))
        mp.setenv("DVC_EXP_NAME", "exp-tiny")
        mp.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
        data, warped = synthetic_with_warps(root / "d")
        write_annotation(data, ANNOTATION)
        gmm_cfg = tiny_cfg(data, "gmm", epochs=2, log_model=True, registered_model_name="tiny-gmm")
        gmm_paths = StagePaths.for_stage("train_gmm", root / "data", root / "metrics")
        # As the stages do: the data set's annotation record goes into the models' meta.json.
        gmm_metrics = run_training_stage("gmm", gmm_cfg, gmm_paths, annotation=read_annotation(data))
        tom_cfg = tiny_cfg(data, "tom", epochs=1, log_model=True, registered_model_name="tiny-tom")
        tom_paths = StagePaths.for_stage("train_tom", root / "data", root / "metrics")
        run_training_stage("tom", tom_cfg, tom_paths, warped_root=warped, annotation=read_annotation(data))
        yield SimpleNamespace(root=root, data=data, gmm_cfg=gmm_cfg, gmm_paths=gmm_paths, gmm_metrics=gmm_metrics,
                              tom_paths=tom_paths, uri=f"sqlite:///{root / 'mlflow.db'}")


def test_uri_is_absolute_from_dvc_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.chdir("/")
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/x.db")
    assert tracking_uri() == "sqlite:////elsewhere/x.db"


def test_gmm_stage_run_holds_params_metrics_artifacts_and_model(tracked: SimpleNamespace) -> None:
    cfg, paths, data = tracked.gmm_cfg, tracked.gmm_paths, tracked.data
    assert tracked.gmm_metrics is not None and json.loads(paths.metrics_json.read_text())["epochs"] == 2
    assert paths.history_csv.read_text().splitlines()[0].startswith("epoch,lr,train_l1")

    client = MlflowClient(tracked.uri)
    mlflow.set_tracking_uri(tracked.uri)
    exp = client.get_experiment_by_name("test-vton")
    assert exp.artifact_location == (tracked.root / "mlartifacts").as_uri()
    # Opens on the runs list in MLflow 3's UI, not on the GenAI overview.
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    (run,) = client.search_runs([exp.experiment_id], filter_string="tags.stage = 'train_gmm'")
    assert run.info.status == "FINISHED"
    assert run.data.tags["stage"] == "train_gmm" and run.data.tags["dvc_exp_name"] == "exp-tiny"
    assert run.data.tags["params_hash"] == cfg.params_hash() and run.data.tags["dvc_exp_baseline_rev"] == "0" * 40
    assert "git_commit" in run.data.tags
    assert run.data.params["lr"] == str(cfg.lr) and run.data.params["model.ngf"] == "8"
    assert run.data.params["loss_weights.smooth"] == "0.5"
    history = client.get_metric_history(run.info.run_id, "val_ssim")
    assert [m.step for m in history] == [1, 2]
    assert {"train_l1", "train_mask", "train_smooth", "val_l1", "val_mask_iou", "final_val_l1"} <= set(run.data.metrics)
    # The warped mask's IoU against the worn garment, per epoch: a share, logged at every validation.
    ious = client.get_metric_history(run.info.run_id, "val_mask_iou")
    assert [m.step for m in ious] == [1, 2] and all(0.0 <= m.value <= 1.0 for m in ious)
    artifacts = {a.path for folder in ("samples", "checkpoints") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"samples/epoch_001.png", "samples/epoch_002.png", "checkpoints/last.pt", "checkpoints/best.pt"} <= artifacts
    # The same grids under one image key by step, which MLflow's compare view lines up across runs.
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert sorted(p.split("+")[2] for p in images if p.startswith("images/samples+step+") and p.endswith(".png")) == ["1", "2"]

    (version,) = client.search_model_versions("name='tiny-gmm'")
    assert version.run_id == run.info.run_id
    logged = mlflow.pytorch.load_model("models:/tiny-gmm/1")
    # Same output as the stage's saved model, at another batch size and resolution than the logged example.
    ds = VitonDataset(data, "test", size=(128, 96))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=1)))
    x = torch.cat([person_input(batch), cloth_input(batch)], dim=1)
    reference = GMMExport(load_model(paths.model, "gmm")).eval()
    with torch.no_grad():
        torch.testing.assert_close(logged(x), reference(x), rtol=1e-4, atol=1e-5)


def test_tom_model_logs_and_loads_back(tracked: SimpleNamespace) -> None:
    paths = tracked.tom_paths
    mlflow.set_tracking_uri(tracked.uri)
    client = MlflowClient(tracked.uri)
    (run,) = client.search_runs([client.get_experiment_by_name("test-vton").experiment_id], filter_string="tags.stage = 'train_tom'")
    assert {"train_adversarial", "train_disc", "train_l1", "val_ssim"} <= set(run.data.metrics)
    logged = mlflow.pytorch.load_model("models:/tiny-tom/1")
    x = torch.rand(3, 45, 64, 48) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(logged(x), TOMExport(load_model(paths.model, "tom")).eval()(x), rtol=1e-4, atol=1e-5)


_RUN_ONE = """
import sys
from pipeline.tracking.mlflow_run import stage_run
with stage_run("train_tom", "raced", {"lr": sys.argv[1]}, "h" + sys.argv[1]) as run:
    run.log_metrics({"val_l1": float(sys.argv[1])}, step=1)
"""


def test_parallel_queued_runs_share_a_fresh_store(tmp_path: Path) -> None:
    """Queued experiments start together on a store nobody opened yet: schema and experiment are made once."""
    env = {**os.environ, "DVC_ROOT": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [subprocess.Popen([sys.executable, "-c", _RUN_ONE, str(i)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (exp,) = [e for e in client.search_experiments() if e.name == "raced"]
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.data.params["lr"] for r in runs) == ["0", "1", "2"]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_rerun_with_more_epochs_resumes_and_keeps_the_whole_curve(tracked: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tracked.root))
    cfg = tiny_cfg(tracked.data, "gmm", epochs=3, log_model=False, registered_model_name="tiny-gmm")
    metrics = run_training_stage("gmm", cfg, tracked.gmm_paths)
    assert metrics is not None and metrics["resumed_from_epoch"] == 2 and metrics["epochs"] == 3
    assert len(tracked.gmm_paths.history_csv.read_text().splitlines()) == 1 + 3
    client = MlflowClient(tracked.uri)
    runs = client.search_runs([client.get_experiment_by_name("test-vton").experiment_id],
                              filter_string="tags.stage = 'train_gmm'", order_by=["attributes.start_time DESC"])
    assert len(runs) == 2
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "val_l1")] == [1, 2, 3]


def test_rerun_of_a_finished_stage_writes_its_outputs_again(tracked: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code change re-runs a finished stage: DVC has deleted its outs, the resume has no epoch left to train."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tracked.root))
    paths = tracked.gmm_paths
    cfg = tiny_cfg(tracked.data, "gmm", epochs=3, log_model=False, registered_model_name="tiny-gmm")
    paths.history_csv.unlink()
    shutil.rmtree(paths.model)
    metrics = run_training_stage("gmm", cfg, paths)
    assert metrics is not None and metrics["resumed_from_epoch"] == 3 and metrics["epochs"] == 3
    assert len(paths.history_csv.read_text().splitlines()) == 1 + 3
    assert load_model(paths.model, "gmm") is not None



def test_models_carry_the_annotation_their_data_was_made_with(tracked: SimpleNamespace) -> None:
    meta = json.loads((tracked.tom_paths.model / "meta.json").read_text())
    assert meta["annotation"] == json.loads(json.dumps(ANNOTATION))
    from_folder = load_models(EngineConfig(model=str(tracked.tom_paths.model), device="cpu"))
    assert from_folder.annotation == meta["annotation"]
    registered = load_models(EngineConfig(model="models:/tiny-tom/latest", gmm_model="models:/tiny-gmm/latest",
                                          tracking_uri=tracked.uri, device="cpu"))
    assert registered.annotation == meta["annotation"]


def test_an_older_experiment_is_marked_as_model_development(tmp_path: Path) -> None:
    from pipeline.tracking.mlflow_run import ensure_experiment

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id = client.create_experiment("made-before", artifact_location=(tmp_path / "a").as_uri())
    assert "mlflow.experimentKind" not in client.get_experiment(exp_id).tags
    assert ensure_experiment(client, "made-before", (tmp_path / "a").as_uri()) == exp_id
    assert client.get_experiment(exp_id).tags["mlflow.experimentKind"] == "custom_model_development"
