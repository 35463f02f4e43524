"""Seconds per training epoch of GMM and TOM with the demo params (params.yaml) on real VITON-HD samples.

Runs train_gmm (epochs from --epochs), the warp stage and train_tom on
../shared/data/vitonhd_train16 (12 train pairs; validation on its 16 images) in a
temporary folder, without MLflow model logging, and prints the figures.

    .venv/bin/python benchmarks/bench_train.py [--size 256 192] [--epochs 2] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import yaml

from pipeline.log import configure_logging
from pipeline.stage_metrics import StageMetrics
from pipeline.train.config import TrainConfig
from pipeline.train.data import VitonDataset
from pipeline.train.stage_runner import StagePaths, run_training_stage
from pipeline.train.warp_writer import WarpConfig, write_warped

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "vitonhd_train16"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=None, help="height width (default: params.yaml)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} not found: the benchmark needs the shared VITON-HD samples")
    configure_logging("WARNING")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    figures: dict[str, object] = {"torch_threads": args.threads or torch.get_num_threads(), "load_avg_1m": os.getloadavg()[0]}
    common = {"dataset": str(DATA), "epochs": args.epochs, "log_model": False, "val_split": "train", "threads": args.threads}
    if args.size:
        common["size"] = list(args.size)

    t0 = time.perf_counter()
    ds = VitonDataset(DATA, "train", size=tuple(common.get("size", params["train_gmm"]["size"])))
    for i in range(len(ds)):
        ds[i]
    figures["data_seconds_per_pair"] = round((time.perf_counter() - t0) / len(ds), 4)

    gmm_cfg = TrainConfig.from_dict({**params["train_gmm"], **common})
    gmm = run_training_stage("gmm", gmm_cfg, StagePaths.for_stage("train_gmm", tmp / "data", tmp / "metrics"))
    assert gmm is not None
    figures["size"] = list(gmm_cfg.size)
    figures["gmm_seconds_per_epoch"] = gmm["seconds_per_epoch"]
    figures["gmm_seconds_per_pair"] = round(gmm["seconds_per_epoch"] / (gmm["train_pairs"] + gmm["val_pairs"]), 3)

    warp_cfg = WarpConfig.from_dict({"dataset": str(DATA), "model_dir": str(tmp / "data" / "train_gmm" / "model"),
                                     "size": list(gmm_cfg.size), "splits": ["train"]})
    t0 = time.perf_counter()
    write_warped(warp_cfg, tmp / "data" / "warp", StageMetrics("warp"))
    figures["warp_seconds_per_pair"] = round((time.perf_counter() - t0) / gmm["train_pairs"], 3)

    tom_cfg = TrainConfig.from_dict({**params["train_tom"], **common, "size": list(gmm_cfg.size)})
    tom = run_training_stage("tom", tom_cfg, StagePaths.for_stage("train_tom", tmp / "data", tmp / "metrics"),
                             warped_root=tmp / "data" / "warp")
    assert tom is not None
    figures["tom_seconds_per_epoch"] = tom["seconds_per_epoch"]
    figures["tom_seconds_per_pair"] = round(tom["seconds_per_epoch"] / (tom["train_pairs"] + tom["val_pairs"]), 3)
    figures["pairs_per_epoch"] = {"train": gmm["train_pairs"], "val": gmm["val_pairs"]}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
