"""Run one training stage end to end: data, DDP, the epoch loop, MLflow, the final model and metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipeline.experiment_metrics import headline_path, training_headline, write_headline
from pipeline.io.atomic import write_json
from pipeline.log import get_logger
from pipeline.models.vgg import MissingWeightsError
from pipeline.tracking.mlflow_run import stage_run
from pipeline.train.config import TrainConfig
from pipeline.train.data import VitonDataset, validation_split
from pipeline.train.distributed import init_distributed, shutdown
from pipeline.train.export import GMMExport, TOMExport, gmm_example, tom_example
from pipeline.train.gmm_trainer import GMMTask
from pipeline.train.loop import Trainer, TrainResult
from pipeline.train.model_io import save_model
from pipeline.train.tom_trainer import TOMTask

log = get_logger(__name__)


@dataclass(frozen=True)
class StagePaths:
    """Where a training stage writes: ``out_dir/checkpoints`` (persisted), ``out_dir/model``, metrics files."""

    out_dir: Path
    metrics_json: Path
    history_csv: Path
    headline_json: Path | None = None  # the experiment-table figures (pipeline.experiment_metrics)

    @classmethod
    def for_stage(cls, stage: str, data_root: Path = Path("data"), metrics_root: Path = Path("metrics")) -> "StagePaths":
        return cls(data_root / stage, metrics_root / f"{stage}.json", metrics_root / f"{stage}_history.csv",
                   headline_path(metrics_root, stage))

    @property
    def checkpoints(self) -> Path:
        return self.out_dir / "checkpoints"

    @property
    def model(self) -> Path:
        return self.out_dir / "model"


def _datasets(cfg: TrainConfig, warped_root: Path | None) -> tuple[VitonDataset, VitonDataset]:
    common: dict[str, Any] = {"size": cfg.size, "pose_format": cfg.pose_format, "validate": cfg.validate, "warped_root": warped_root}
    train = VitonDataset(cfg.dataset, cfg.train_split, limit=cfg.limit_train, **common)
    val_split = validation_split(cfg.dataset, cfg.val_split, cfg.train_split)
    val = VitonDataset(cfg.dataset, val_split, limit=cfg.limit_val, **common)
    return train, val


def run_training_stage(kind: str, cfg: TrainConfig, paths: StagePaths, warped_root: Path | None = None,
                       annotation: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Train ``kind`` (gmm|tom) as a stage; returns the metrics written (None on non-main DDP ranks).

    ``annotation``: the settings the data set was annotated with
    (:func:`pipeline.dataset.annotation_record.read_annotation`), recorded in the model's meta.json.

    Re-running resumes from ``checkpoints/last.pt`` when params and data match.
    Missing VGG19 weights stop the stage with one sentence naming the param.
    """
    started = time.perf_counter()
    dist = init_distributed(cfg.device)
    try:
        try:
            task = GMMTask(cfg) if kind == "gmm" else TOMTask(cfg)
        except MissingWeightsError as exc:
            raise SystemExit(str(exc)) from exc
        train_set, val_set = _datasets(cfg, warped_root if kind == "tom" else None)
        stage = task.stage
        # An empty experiment name turns tracking off (quick local checks).
        tracked = dist.is_main and bool(cfg.mlflow_experiment)
        with stage_run(stage, cfg.mlflow_experiment, cfg.flat_params(), cfg.params_hash(), enabled=tracked) as run:
            run.set_tags({"train_pairs": str(len(train_set)), "val_pairs": str(len(val_set)), "world_size": str(dist.world_size)})
            trainer = Trainer(task, cfg, train_set, val_set, paths.checkpoints, dist, history_csv=paths.history_csv,
                              samples_dir=paths.checkpoints / "samples", sink=run)
            result = trainer.run()
            if not dist.is_main:
                return None
            model = result.modules[task.main_module]
            save_model(paths.model, kind, model, task.model_cfg,
                       meta={"params_hash": cfg.params_hash(), "best_epoch": result.best_epoch,
                             "best_val_loss": result.best_val, "size": list(cfg.size),
                             # What the engine may try on with this model (it refuses other categories).
                             "categories": sorted({p.category for p in getattr(train_set, "pairs", [])}),
                             # How the training data was annotated, so inference annotates the same way.
                             "annotation": annotation,
                             # Fine-tuned from these weights (None: from scratch).
                             "init_from": cfg.init_from})
            metrics = _final_metrics(result, train_set, val_set, cfg, time.perf_counter() - started)
            write_json(paths.metrics_json, metrics)
            if paths.headline_json is not None:
                write_headline(paths.headline_json, training_headline(task.stage, metrics))
            run.log_metrics({f"final_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, step=cfg.epochs)
            if (paths.checkpoints / "best.pt").is_file():
                run.log_artifact(paths.checkpoints / "best.pt", "checkpoints")
            run.log_artifact(paths.model / "meta.json", "model_folder")
            if cfg.log_model:
                # Two items: MLflow exports size-1 dimensions as fixed, and the batch size must stay free.
                batch = next(iter(torch.utils.data.DataLoader(val_set, batch_size=2)))
                wrapper = GMMExport(model) if kind == "gmm" else TOMExport(model)
                example = gmm_example(batch) if kind == "gmm" else tom_example(batch)
                run.log_model(wrapper, example, registered_model_name=cfg.registered_model_name or None)
            log.info("stage finished", stage=stage, **{k: v for k, v in metrics.items() if not isinstance(v, dict)})
            return metrics
    finally:
        shutdown(dist)


def _final_metrics(result: TrainResult, train_set: VitonDataset, val_set: VitonDataset, cfg: TrainConfig, seconds: float) -> dict[str, Any]:
    last = result.history[-1] if result.history else {}
    epoch_s = result.epoch_seconds or [row.get("seconds", 0.0) for row in result.history]
    return {
        **{k: round(float(v), 6) for k, v in last.items() if k not in ("epoch", "seconds", "lr")},
        "epochs": int(last.get("epoch", 0)),
        "best_val_loss": round(result.best_val, 6),
        "best_epoch": result.best_epoch,
        "resumed_from_epoch": result.resumed_from,
        "seconds_per_epoch": round(sum(epoch_s) / max(len(epoch_s), 1), 3),
        "seconds": round(seconds, 3),
        "train_pairs": len(train_set),
        "val_pairs": len(val_set),
        "skipped": {"train": dict(train_set.skipped), "val": dict(val_set.skipped)},
        "image_size": list(cfg.size),
        "val_split": val_set.split,
    }
