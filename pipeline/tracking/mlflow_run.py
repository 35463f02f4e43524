"""One MLflow run per training stage, in the repository's embedded SQLite store.

The store is ``<repo>/mlflow.db`` with artifacts in ``<repo>/mlartifacts``, where
``<repo>`` comes from DVC's ``DVC_ROOT``: queued and ``--temp`` experiments run in
a copy under ``.dvc/tmp/exps`` and DVC points ``DVC_ROOT`` back at the real
repository, so their runs land in the same store. ``MLFLOW_TRACKING_URI``
overrides all of this.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec

from pipeline.log import get_logger

log = get_logger(__name__)


def project_root() -> Path:
    """The repository root: ``DVC_ROOT`` when DVC runs us, else the working directory."""
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def tracking_uri(root: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else an absolute ``sqlite:///<root>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(root or project_root()) / 'mlflow.db'}"


def artifact_root(root: Path | None = None) -> str:
    """Where a new experiment keeps its artifacts: ``<root>/mlartifacts`` (absolute)."""
    return ((root or project_root()) / "mlartifacts").as_uri()


# MLflow 3's UI opens an experiment of unknown kind on its GenAI overview, with pop-ups; marked as
# model development it opens on the runs list, where training runs are compared.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str) -> str:
    """Id of experiment ``name``, creating it once; a parallel run creating it first is not an error."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    except MlflowException:
        # Another queued run won the race (unique constraint on the name): read theirs.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite store while it is first opened.

    Opening a fresh ``mlflow.db`` creates and migrates its schema; two queued
    experiments doing that at once fail ("duplicate column"), so the first
    opening is serialised across processes. Other stores need no lock.
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri.removeprefix("sqlite:///") + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def git_commit(cwd: Path | None = None) -> str:
    """The current commit, or ``unknown`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


class StageRun:
    """Handle on an active MLflow run; every method is a no-op when ``enabled`` is False (non-main DDP ranks)."""

    def __init__(self, client: MlflowClient | None, run_id: str | None) -> None:
        self.client = client
        self.run_id = run_id

    @property
    def enabled(self) -> bool:
        return self.client is not None and self.run_id is not None

    def log_params(self, params: dict[str, Any]) -> None:
        """Log every param (values stringified, long ones cut to MLflow's 6000-char limit)."""
        if self.enabled:
            for key, value in params.items():
                mlflow.log_param(key, str(value)[:6000])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Log ``metrics`` at ``step`` (the epoch), skipping non-finite values with a warning."""
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in metrics.items() if np.isfinite(float(v))}
        if len(clean) < len(metrics):
            log.warning("non-finite metrics not logged", keys=sorted(set(metrics) - set(clean)))
        mlflow.log_metrics(clean, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_image(self, path: Path, key: str, step: int) -> None:
        """Log a picture under one ``key`` at ``step``: MLflow's compare view lines runs' pictures up by key and
        step, where per-epoch artifact file names differ from run to run."""
        if self.enabled:
            from PIL import Image

            with Image.open(path) as img:
                mlflow.log_image(img.convert("RGB"), key=key, step=step)

    def set_tags(self, tags: dict[str, str]) -> None:
        if self.enabled:
            mlflow.set_tags(tags)

    def log_model(self, model: torch.nn.Module, example: torch.Tensor, name: str = "model",
                  registered_model_name: str | None = None, serialization_format: str = "pt2") -> str | None:
        """Log ``model`` (one ``[B, C, H, W]`` tensor in, one out) with signature and example; register it.

        ``pt2`` (``torch.export``, MLflow 3's default) needs no pickle to load. The
        signature marks batch, height and width as variable (-1), which MLflow turns
        into dynamic export dimensions, so a small example (batch > 1, since size-1
        dimensions are frozen) keeps the logged example light while the loaded model
        still runs at any batch size and resolution.
        """
        if not self.enabled:
            return None
        model = model.eval().cpu()
        with torch.no_grad():
            output = model(example)
        signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, example.shape[1], -1, -1), "x")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, output.shape[1], -1, -1))]),
        )
        info = mlflow.pytorch.log_model(
            model, name=name, signature=signature, input_example=example.numpy(),
            registered_model_name=registered_model_name or None, serialization_format=serialization_format,
            # A pt2 program needs torch alone; stating it skips MLflow's slow requirement inference,
            # which reloads the model in a subprocess.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            # MLflow's serving check feeds the example as a JSON list, which the PyTorch flavour refuses.
            validate_serving_input=False,
        )
        log.info("model logged", uri=info.model_uri, registered=registered_model_name or "")
        return info.model_uri


@contextlib.contextmanager
def stage_run(stage: str, experiment: str, params: dict[str, Any], params_hash: str,
              enabled: bool = True, root: Path | None = None) -> Iterator[StageRun]:
    """Start one MLflow run for ``stage`` tagged with commit, DVC experiment and params hash; end it on exit.

    A failing block ends the run as FAILED, so the store shows interrupted trainings.
    """
    if not enabled:
        yield StageRun(None, None)
        return
    root = root or project_root()
    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    with store_lock(uri):
        client = MlflowClient(uri)
        exp_id = ensure_experiment(client, experiment, artifact_root(root))
    tags = {
        "stage": stage,
        "git_commit": git_commit(root),
        "dvc_exp_name": os.environ.get("DVC_EXP_NAME", ""),
        "dvc_exp_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", ""),
        "params_hash": params_hash,
        "mlflow.source.name": f"stages/{stage}.py",
    }
    run_name = f"{stage}-{os.environ.get('DVC_EXP_NAME') or params_hash}"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as run:
        handle = StageRun(client, run.info.run_id)
        handle.log_params(params)
        log.info("mlflow run started", stage=stage, run_id=run.info.run_id, uri=uri)
        yield handle


def latest_run(experiment: str, stage: str, uri: str | None = None) -> Any:
    """The most recent run of ``stage`` in ``experiment`` (None when there is none)."""
    client = MlflowClient(uri or tracking_uri())
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.stage = '{stage}'",
                              run_view_type=ViewType.ACTIVE_ONLY, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None
