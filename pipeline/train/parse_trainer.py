"""Train the learned parser on a data set's own parse maps and export it for the ``onnx`` backend.

The folder written (``model/``) holds ``parser.onnx``, ``parser.pt`` (weights + network
config) and ``meta.json``, whose ``parse`` mapping is what the ``learned`` parser backend
turns into the ONNX backend's pre-processing settings, so a user sets two params
(``parse.backend: learned``, ``parse.learned_model``), never seven.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.annotate.parse.metrics import IoUAccumulator
from pipeline.dataset.annotation_record import reference_labels
from pipeline.io.atomic import atomic_dir, write_json
from pipeline.log import get_logger
from pipeline.models.parse_net import ParseNet
from pipeline.tracking.mlflow_run import stage_run
from pipeline.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from pipeline.train.data import validation_split
from pipeline.train.distributed import pick_device
from pipeline.train.history import write_history
from pipeline.train.loop import code_fingerprint, files_fingerprint, seed_everything
from pipeline.train.parse_config import ParseTrainConfig
from pipeline.train.parse_data import ParseDataset, reseed_worker
from pipeline.train.stage_runner import StagePaths

log = get_logger(__name__)

STAGE = "train_parse"
ONNX_NAME, WEIGHTS_NAME, META_NAME = "parser.onnx", "parser.pt", "meta.json"
ONNX_TOLERANCE = 1e-3


@torch.no_grad()
def evaluate_parser(model: torch.nn.Module, loader: DataLoader, device: torch.device, channels_last: bool = False) -> dict[str, float]:
    """Mean cross-entropy and the grouped IoU (``pipeline.annotate.parse.metrics``) over ``loader``."""
    model.eval()
    acc = IoUAccumulator()
    loss_sum, pixels = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        pixels += y.numel()
        pred = logits.argmax(1).cpu().numpy().astype(np.uint8)
        for p, t in zip(pred, y.cpu().numpy().astype(np.uint8)):
            acc.add(p, t)
    report = acc.report()
    out = {"val_loss": loss_sum / max(pixels, 1)}
    out.update({f"val_{k}": float(v) for k, v in report.items() if v is not None})
    return out


def _parse_settings(cfg: ParseTrainConfig) -> dict[str, Any]:
    """The ONNX backend's pre-processing that matches :class:`ParseDataset` (RGB / 127.5 - 1, zero letterbox)."""
    return {"onnx_label_set": "cihp", "onnx_input_size": list(cfg.size), "onnx_mean": [0.5, 0.5, 0.5],
            "onnx_std": [0.5, 0.5, 0.5], "onnx_channel_order": "rgb", "onnx_keep_aspect": True, "onnx_output": "logits"}


def export_parser(model: ParseNet, cfg: ParseTrainConfig, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``parser.onnx``, ``parser.pt`` and ``meta.json`` into ``folder`` (atomically); returns the meta.

    The ONNX graph is checked against torch on a batch of 3 (the export uses 2, so the batch
    axis is shown to be free); a larger difference than ``ONNX_TOLERANCE`` raises.
    """
    import onnxruntime as ort

    model = model.eval().cpu().to(memory_format=torch.contiguous_format)
    example = torch.rand(2, 3, *cfg.size) * 2 - 1
    with atomic_dir(folder) as tmp:
        with torch.no_grad():
            # The TorchScript exporter, as for the try-on models (pipeline.infer.onnx_export).
            torch.onnx.export(model, (example,), str(tmp / ONNX_NAME), input_names=["x"], output_names=["logits"],
                              opset_version=17, dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
            check = torch.rand(3, 3, *cfg.size) * 2 - 1
            ref = model(check).numpy()
        session = ort.InferenceSession(str(tmp / ONNX_NAME), providers=["CPUExecutionProvider"])
        diff = float(np.abs(session.run(None, {"x": check.numpy()})[0] - ref).max())
        if not diff <= ONNX_TOLERANCE:
            raise RuntimeError(f"exported parser differs from torch by {diff:.2e} (> {ONNX_TOLERANCE})")
        torch.save({"state_dict": model.state_dict(), "widths": list(cfg.widths), "size": list(cfg.size)}, tmp / WEIGHTS_NAME)
        full = {**meta, "onnx_max_abs_diff": diff, "parse": _parse_settings(cfg)}
        write_json(tmp / META_NAME, full)
    log.info("parser exported", folder=folder, onnx_max_abs_diff=diff)
    return full


class _Budget:
    """Stop before an epoch that would end past the time budget (0 = no budget)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.perf_counter()

    def exhausted(self, last_epoch_s: float) -> bool:
        return bool(self.seconds) and time.perf_counter() - self.started + last_epoch_s > self.seconds


def train_parser(cfg: ParseTrainConfig, paths: StagePaths) -> dict[str, Any]:
    """Train (resuming from ``checkpoints/last.pt`` when its recipe matches), export the best epoch, write metrics."""
    started = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    seed_everything(cfg.seed, device)
    train_set = ParseDataset(cfg.dataset, cfg.train_split, cfg.size, augment=cfg.augment, limit=cfg.limit_train, seed=cfg.seed)
    val_split = validation_split(cfg.dataset, cfg.val_split, cfg.train_split)
    val_set = ParseDataset(cfg.dataset, val_split, cfg.size, limit=cfg.limit_val)
    if len(train_set) < 2:
        raise ValueError(f"{cfg.dataset}: the parser needs at least two training pictures, found {len(train_set)}")
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.workers,
                        drop_last=len(train_set) > cfg.batch_size, persistent_workers=cfg.workers > 0,
                        worker_init_fn=reseed_worker)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=cfg.workers)

    model = ParseNet(cfg.net).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "mIoU": -math.inf}
    start_epoch = 0
    # Resume only the same recipe on the same files with the same code: DVC re-runs this stage
    # when any of them changes, and a finished checkpoint would then train nothing.
    recipe = {"params": cfg.params_hash(), "data": files_fingerprint(p for item in train_set.items for p in item),
              "code": code_fingerprint()}
    state = load_checkpoint(paths.checkpoints / "last.pt")
    if state is not None and state.get("recipe") == recipe:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, best, start_epoch = state["history"], state["best"], int(state["epoch"])
        set_rng_state(state["rng"])
        log.info("resuming", stage=STAGE, from_epoch=start_epoch)
    elif state is not None:
        log.info("checkpoint from other params, data or code, starting fresh", stage=STAGE)

    epoch_seconds: list[float] = []
    budget = _Budget(cfg.time_budget_s)
    with stage_run(STAGE, cfg.mlflow_experiment, {k: str(v) for k, v in cfg.to_dict().items()}, cfg.params_hash(),
                   enabled=bool(cfg.mlflow_experiment)) as run:
        run.set_tags({"train_images": str(len(train_set)), "val_images": str(len(val_set)), "val_split": val_split})
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            loss_sum, steps = 0.0, 0
            for x, y in tqdm(loader, desc=f"{STAGE} epoch {epoch + 1}", leave=False):
                x, y = x.to(device), y.to(device)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum, steps = loss_sum + float(loss.detach()), steps + 1
            lr = opt.param_groups[0]["lr"]
            sched.step()
            row = {"epoch": epoch + 1, "train_loss": loss_sum / max(steps, 1), **evaluate_parser(model, val_loader, device, cfg.channels_last),
                   "lr": lr, "seconds": time.perf_counter() - t0}
            history.append(row)
            if row.get("val_mIoU", -1.0) > best["mIoU"]:
                best = {"epoch": epoch + 1, "mIoU": row.get("val_mIoU", -1.0)}
                save_checkpoint(paths.checkpoints / "best.pt", {"model": model.state_dict(), "epoch": epoch + 1})
            save_checkpoint(paths.checkpoints / "last.pt", {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "history": history, "best": best, "epoch": epoch + 1, "rng": rng_state(), "recipe": recipe})
            write_history(paths.history_csv, history)
            run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
            log.info("epoch done", stage=STAGE, **{k: round(v, 4) for k, v in row.items()})
            epoch_seconds.append(row["seconds"])
            if epoch + 1 < cfg.epochs and budget.exhausted(row["seconds"]):
                log.info("time budget reached, stopping", stage=STAGE, epochs_done=epoch + 1, budget_s=cfg.time_budget_s)
                break
        write_history(paths.history_csv, history)  # also when a resumed run had no epoch left
        best_state = load_checkpoint(paths.checkpoints / "best.pt")
        if best_state is not None:
            model.load_state_dict(best_state["model"])
        last = history[-1] if history else {}
        meta = {"params_hash": cfg.params_hash(), "best_epoch": best["epoch"], "best_val_mIoU": best["mIoU"],
                "dataset": cfg.dataset, "val_split": val_split, "widths": list(cfg.widths), "size": list(cfg.size)}
        meta = export_parser(model, cfg, paths.model, meta)
        metrics = {
            **{k: round(float(v), 6) for k, v in last.items() if k not in ("epoch", "lr", "seconds")},
            "epochs": int(last.get("epoch", 0)),
            "best_epoch": best["epoch"],
            "best_val_mIoU": round(float(best["mIoU"]), 6),
            "resumed_from_epoch": start_epoch,
            "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 3) if epoch_seconds else 0.0,
            "seconds": round(time.perf_counter() - started, 3),
            "train_images": len(train_set),
            "val_images": len(val_set),
            "val_split": val_split,
            "skipped": {"train": dict(train_set.skipped), "val": dict(val_set.skipped)},
            "onnx_max_abs_diff": meta["onnx_max_abs_diff"],
            # What the validation figure measures agreement with (the demo: the project's own parses,
            # so its mIoU says how well the network imitates them, not how right they are).
            "reference_labels": reference_labels(cfg.dataset)[0],
            "reference_is_own_annotation": reference_labels(cfg.dataset)[1],
        }
        write_json(paths.metrics_json, metrics)
        run.log_artifact(paths.model / ONNX_NAME, "parser")
        run.log_artifact(paths.model / META_NAME, "parser")
        log.info("stage finished", stage=STAGE, best_epoch=best["epoch"], best_val_mIoU=round(float(best["mIoU"]), 4))
        return metrics
