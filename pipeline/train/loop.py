"""The epoch loop every training stage shares: warm-up, mixed precision, DDP, validation, checkpoints, resume.

A model-specific :class:`TrainTask` says how to build its modules, run one
optimisation step, predict for validation and draw sample columns; this module
does the rest, identically for GMM and TOM.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim import Adam, Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchmetrics.functional.image import structural_similarity_index_measure
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from pipeline.log import get_logger
from pipeline.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from pipeline.train.config import LR_SCHEDULES, TrainConfig
from pipeline.train.distributed import DistContext, unwrap
from pipeline.train.history import write_history
from pipeline.train.inputs import to_device

log = get_logger(__name__)


@dataclass
class StepContext:
    """What a task's step sees: the (possibly DDP-wrapped) modules, their optimisers, AMP helpers."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, Optimizer]
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    cpu_bf16: bool = False
    channels_last: bool = False

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """fp16 autocast on CUDA when enabled, bf16 on a CPU with native bf16 when enabled, else a no-op.

        bf16 keeps fp32's exponent range, so unlike fp16 it needs no loss scaling; the losses are
        computed in fp32 from the outputs' ``.float()``.
        """
        if self.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        if self.cpu_bf16:
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward_step(self, loss: torch.Tensor, name: str) -> None:
        """Zero, back-propagate (scaled) and step optimiser ``name``."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)


class TrainTask(ABC):
    """Model-specific parts of training."""

    stage: str
    main_module: str  # which module is the stage's final model

    @abstractmethod
    def create_modules(self) -> dict[str, nn.Module]:
        """Fresh trainable modules (CPU); the first is the main one."""

    @abstractmethod
    def train_step(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached loss terms (``loss`` = the total)."""

    @abstractmethod
    def predict(self, ctx: StepContext, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(prediction, target)`` images in [-1, 1] for validation L1/SSIM."""

    def validation_metrics(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Task-specific per-sample validation measures ``{name: [B]}``, logged as ``val_<name>``."""
        return {}

    @abstractmethod
    def sample_columns(self, ctx: StepContext, batch: dict[str, Any]) -> list[torch.Tensor]:
        """``[B, 3, H, W]`` images in [-1, 1] shown side by side in the sample grid."""

    def lr_for(self, name: str, cfg: TrainConfig) -> float:
        """Learning rate of module ``name`` (a discriminator may differ)."""
        return cfg.lr


class EpochSink(Protocol):
    """Where per-epoch results go besides the CSV (MLflow in the stages)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...

    def log_image(self, path: Path, key: str, step: int) -> None: ...


@dataclass
class TrainResult:
    """What a finished (or already finished and resumed) run hands back."""

    history: list[dict[str, float]]
    best_val: float
    best_epoch: int
    final_state: dict[str, dict[str, torch.Tensor]]  # best weights per module, on CPU
    modules: dict[str, nn.Module]  # plain modules holding the best weights
    resumed_from: int = 0
    epoch_seconds: list[float] = field(default_factory=list)


def dataset_fingerprint(dataset: Dataset[Any]) -> str:
    """Hash of the files a data set reads (name, size, modification time), so a checkpoint is not resumed on other data.

    Stages replace their outputs whole, so any upstream re-run gives new
    modification times and training starts afresh; an interrupted run on
    untouched files resumes. Reading every byte would cost minutes on VITON-HD.
    """
    return files_fingerprint(path for pair in getattr(dataset, "pairs", []) for path in [*pair.images(), pair.pose])


def files_fingerprint(paths: Iterable[Path]) -> str:
    """Hash of each file's name, size and modification time (see :func:`dataset_fingerprint`)."""
    h = hashlib.sha256()
    for path in paths:
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


# The code that shapes the weights: models, losses, data loading and this loop.
_TRAINING_CODE = tuple(Path(__file__).resolve().parents[1] / d for d in ("train", "models"))


def code_fingerprint(folders: tuple[Path, ...] = _TRAINING_CODE) -> str:
    """Hash of the training code's source, so a checkpoint written by other code is not resumed.

    Without it a code change (a new loss, say) re-runs the stage in DVC, which
    would resume from the final checkpoint and train nothing.
    """
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            h.update(f"{path.relative_to(folder.parent)}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


class LRSchedule:
    """Per-step factor on the learning rate: a linear warm-up, then constant or a linear decay.

    ``linear`` decays to 0 at ``total_steps``, the last step the run will take. A run that stops on a
    time budget does not know that step in advance, so the trainer re-estimates ``total_steps`` at
    each epoch from the budget left and the epochs' duration: budgeted runs end annealed instead of
    being cut off at full learning rate. A callable object rather than a closure, so that LambdaLR
    checkpoints its state with the scheduler's.
    """

    def __init__(self, warmup_steps: int, total_steps: int, kind: str = "constant") -> None:
        if kind not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {kind!r}")
        self.warmup_steps, self.total_steps, self.kind = int(warmup_steps), int(total_steps), kind

    def __call__(self, step: int) -> float:
        warm = 1.0 if self.warmup_steps <= 0 else min(1.0, (step + 1) / self.warmup_steps)
        if self.kind == "constant" or self.total_steps <= 0:
            return warm
        span = max(1, self.total_steps - self.warmup_steps)
        return warm * min(1.0, max(0.0, 1.0 - (step - self.warmup_steps) / span))


def planned_epochs(epochs: int, done: int, elapsed: float, epoch_seconds: list[float], budget_s: float) -> int:
    """How many epochs a run will have trained when it stops: ``epochs``, or fewer on a time budget.

    The loop starts an epoch only if one as long as the last would end within the budget; the
    estimate applies that test to the epochs still to come.
    """
    if not budget_s or not epoch_seconds:
        return epochs
    more = int(max(0.0, budget_s - elapsed) // max(epoch_seconds[-1], 1e-6))
    return max(done + 1, min(epochs, done + more))


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose vector units compute in bf16 (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((check and check()) or (amx and amx()))


def seed_everything(seed: int, device: torch.device = torch.device("cpu")) -> None:
    """Seed torch/numpy/python; on CPU also ask for deterministic kernels (bit-exact resumes).

    On CUDA speed wins: cuDNN autotuning stays on and a few kernels (grid_sample's
    backward among them) are not deterministic, so GPU runs are reproducible only
    approximately.
    """
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True


def _loader(dataset: Dataset[Any], cfg: TrainConfig, dist: DistContext, shuffle: bool) -> tuple[DataLoader[Any], DistributedSampler[Any], torch.Generator]:
    # DistributedSampler also for one process: shuffling then depends only on (seed, epoch), which
    # is what makes a resumed run see the same batches as an uninterrupted one.
    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=shuffle, seed=cfg.seed)
    generator = torch.Generator()
    generator.manual_seed(cfg.seed)
    per_rank = math.ceil(len(dataset) / dist.world_size)
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
        pin_memory=dist.device.type == "cuda", drop_last=shuffle and per_rank >= 2 * cfg.batch_size,
        generator=generator, persistent_workers=False,
    )
    return loader, sampler, generator


def _mean_over_ranks(sums: dict[str, float], count: float, dist: DistContext) -> dict[str, float]:
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys] + [count], dtype=torch.float64, device=dist.device)
    dist.all_reduce_sum(t)
    total = max(float(t[-1]), 1.0)
    return {k: float(v) / total for k, v in zip(keys, t[:-1].tolist())}


class Trainer:
    """Runs a :class:`TrainTask` for ``cfg.epochs``, resuming from ``checkpoint_dir/last.pt`` when it matches."""

    def __init__(
        self,
        task: TrainTask,
        cfg: TrainConfig,
        train_set: Dataset[Any],
        val_set: Dataset[Any],
        checkpoint_dir: Path,
        dist: DistContext,
        history_csv: Path | None = None,
        samples_dir: Path | None = None,
        sink: EpochSink | None = None,
    ) -> None:
        self.task, self.cfg, self.dist = task, cfg, dist
        self.train_set, self.val_set = train_set, val_set
        self.checkpoint_dir = Path(checkpoint_dir)
        self.history_csv, self.samples_dir, self.sink = history_csv, samples_dir, sink
        self.fingerprint = {"params": cfg.trajectory_hash(), "data": dataset_fingerprint(train_set),
                            "code": code_fingerprint(), "world": dist.world_size}
        if cfg.init_from:
            # The starting weights shape the run as much as the params: other weights, other run.
            from pipeline.train.init_weights import saved_model_file

            self.fingerprint["init"] = files_fingerprint([saved_model_file(cfg.init_from, task.main_module)])

    # -- setup ------------------------------------------------------------------------------
    def _build(self) -> StepContext:
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        seed_everything(self.cfg.seed, self.dist.device)
        plain = self.task.create_modules()
        channels_last = self.cfg.channels_last
        if channels_last:
            plain = {name: m.to(memory_format=torch.channels_last) for name, m in plain.items()}
        modules = {name: self.dist.wrap(m.to(self.dist.device)) for name, m in plain.items()}
        optimizers: dict[str, Optimizer] = {
            name: Adam(m.parameters(), lr=self.task.lr_for(name, self.cfg), betas=self.cfg.betas,
                       weight_decay=self.cfg.weight_decay)
            for name, m in modules.items() if any(p.requires_grad for p in m.parameters())
        }
        amp = self.cfg.amp and self.dist.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        bf16 = self.cfg.cpu_bf16 and self.dist.device.type == "cpu" and cpu_has_native_bf16()
        log.info("precision", stage=self.task.stage, device=str(self.dist.device), cuda_fp16=amp, cpu_bf16=bf16,
                 channels_last=channels_last)
        return StepContext(modules, optimizers, scaler, self.dist.device, amp, bf16, channels_last)

    def _state(self, ctx: StepContext, schedulers: dict[str, LambdaLR], epoch: int, history: list[dict[str, float]],
               best: tuple[float, int]) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "fingerprint": self.fingerprint,
            "config": self.cfg.to_dict(),
            "modules": {n: unwrap(m).state_dict() for n, m in ctx.modules.items()},
            "optimizers": {n: o.state_dict() for n, o in ctx.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
            "scaler": ctx.scaler.state_dict(),
            "rng": rng_state(),
            "history": history,
            "best": list(best),
        }

    def _try_resume(self, ctx: StepContext, schedulers: dict[str, LambdaLR]) -> tuple[int, list[dict[str, float]], tuple[float, int]]:
        state = load_checkpoint(self.checkpoint_dir / "last.pt")
        fresh: tuple[int, list[dict[str, float]], tuple[float, int]] = (0, [], (math.inf, -1))
        if state is None:
            return fresh
        if state.get("fingerprint") != self.fingerprint:
            log.info("checkpoint is from other params, data or training code, starting afresh", stage=self.task.stage,
                     saved=state.get("fingerprint"), now=self.fingerprint)
            return fresh
        try:
            for name, module in ctx.modules.items():
                unwrap(module).load_state_dict(state["modules"][name])
            for name, opt in ctx.optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
            for name, sched in schedulers.items():
                sched.load_state_dict(state["schedulers"][name])
            ctx.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError) as exc:
            # The model code changed shape since the checkpoint was written.
            log.warning("checkpoint does not fit the current model, starting afresh", detail=str(exc)[:300])
            seed_everything(self.cfg.seed, self.dist.device)
            for name, module in self.task.create_modules().items():
                unwrap(ctx.modules[name]).load_state_dict(module.state_dict())
            return fresh
        set_rng_state(state["rng"])
        log.info("resuming", stage=self.task.stage, from_epoch=state["epoch"])
        return int(state["epoch"]), list(state["history"]), (float(state["best"][0]), int(state["best"][1]))

    # -- epochs -----------------------------------------------------------------------------
    def _train_epoch(self, ctx: StepContext, loader: DataLoader[Any], schedulers: dict[str, LambdaLR], epoch: int) -> dict[str, float]:
        for m in ctx.modules.values():
            m.train()
        sums: dict[str, float] = {}
        count = 0
        for batch in tqdm(loader, desc=f"{self.task.stage} epoch {epoch + 1}", disable=not self.dist.is_main, leave=False):
            batch = to_device(batch, ctx.device, ctx.channels_last)
            terms = self.task.train_step(ctx, batch)
            ctx.scaler.update()
            for sched in schedulers.values():
                sched.step()
            n = len(batch["name"])
            count += n
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value) * n
        return {f"train_{k}": v for k, v in _mean_over_ranks(sums, count, self.dist).items()}

    @torch.no_grad()
    def _validate(self, ctx: StepContext, loader: DataLoader[Any]) -> dict[str, float]:
        for m in ctx.modules.values():
            m.eval()
        sums = {"l1": 0.0, "ssim": 0.0}
        count = 0
        for batch in loader:
            batch = to_device(batch, ctx.device, ctx.channels_last)
            with ctx.autocast():
                pred, target = self.task.predict(ctx, batch)
                extra = self.task.validation_metrics(ctx, batch)
            for name, values in extra.items():
                sums[name] = sums.get(name, 0.0) + float(values.float().sum())
            pred, target = pred.float(), target.float()
            sums["l1"] += float((pred - target).abs().mean(dim=(1, 2, 3)).sum())
            ssim = structural_similarity_index_measure((pred + 1) / 2, (target + 1) / 2, data_range=1.0, reduction="none")
            sums["ssim"] += float(ssim.sum())
            count += pred.shape[0]
        means = _mean_over_ranks(sums, count, self.dist)
        return {**{f"val_{k}": v for k, v in means.items()}, "val_loss": means["l1"]}

    @torch.no_grad()
    def _samples(self, ctx: StepContext, batch: dict[str, Any], epoch: int) -> Path | None:
        if self.samples_dir is None:
            return None
        for m in ctx.modules.values():
            m.eval()
        batch = to_device({k: v[:4] for k, v in batch.items()}, ctx.device)
        with ctx.autocast():
            cols = [c.float().clamp(-1, 1) for c in self.task.sample_columns(ctx, batch)]
        # Rows are samples, columns the task's images (person | cloth | warped | output).
        tiles = torch.stack(cols, dim=1).flatten(0, 1)
        path = self.samples_dir / f"epoch_{epoch:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid((tiles + 1) / 2, nrow=len(cols), padding=2, pad_value=1.0), path)
        return path

    def run(self) -> TrainResult:
        """Train (or finish training) and return the best weights and the history."""
        cfg, dist = self.cfg, self.dist
        ctx = self._build()
        train_loader, sampler, generator = _loader(self.train_set, cfg, dist, shuffle=True)
        val_loader, _, _ = _loader(self.val_set, cfg, dist, shuffle=False)
        steps_per_epoch = max(len(train_loader), 1)
        warmup = round(cfg.warmup_epochs * steps_per_epoch)
        schedules = {n: LRSchedule(warmup, cfg.epochs * steps_per_epoch, cfg.lr_schedule) for n in ctx.optimizers}
        schedulers = {n: LambdaLR(o, schedules[n]) for n, o in ctx.optimizers.items()}
        start, history, best = self._try_resume(ctx, schedulers)
        resumed_from = start
        if dist.is_main:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            if start == 0:
                # Leftovers of a run with other settings must not pass for this one's.
                (self.checkpoint_dir / "best.pt").unlink(missing_ok=True)
                if self.samples_dir is not None and self.samples_dir.is_dir():
                    for old in self.samples_dir.glob("epoch_*.png"):
                        old.unlink()
            else:
                if self.history_csv is not None:
                    # DVC deletes the CSV before re-running a stage (say, after a code change); a run
                    # resumed from its final epoch trains nothing, and must still leave its history.
                    write_history(self.history_csv, history)
                if self.sink is not None:
                    # A resumed run is a new MLflow run: give it the whole curve, not only the new epochs.
                    for row in history:
                        self.sink.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        sample_batch = next(iter(val_loader))
        epoch_seconds: list[float] = []
        started = time.perf_counter()
        for epoch in range(start, cfg.epochs):
            if cfg.time_budget_s and epoch_seconds and self._over_budget(time.perf_counter() - started, epoch_seconds[-1]):
                log.info("time budget reached, stopping", stage=self.task.stage, epochs_done=epoch,
                         budget_s=cfg.time_budget_s)
                break
            total = self._agreed(planned_epochs(cfg.epochs, epoch, time.perf_counter() - started, epoch_seconds,
                                                cfg.time_budget_s)) * steps_per_epoch
            for name, schedule in schedules.items():
                schedule.total_steps = total
                # LambdaLR applies a factor at its next step(); this epoch's first step must see the new end.
                for group in ctx.optimizers[name].param_groups:
                    group["lr"] = group["initial_lr"] * schedule(schedulers[name].last_epoch)
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            generator.manual_seed(cfg.seed * 1_000_003 + epoch)
            row: dict[str, float] = {"epoch": epoch + 1, "lr": ctx.optimizers[self.task.main_module].param_groups[0]["lr"]}
            row.update(self._train_epoch(ctx, train_loader, schedulers, epoch))
            row.update(self._validate(ctx, val_loader))
            row["seconds"] = round(time.perf_counter() - t0, 3)
            epoch_seconds.append(row["seconds"])
            history.append(row)
            improved = row["val_loss"] < best[0]
            if improved:
                best = (row["val_loss"], epoch + 1)
            log.info("epoch", stage=self.task.stage, **{k: round(v, 5) for k, v in row.items()})
            if dist.is_main:
                self._after_epoch(ctx, schedulers, epoch, history, best, improved, sample_batch)
            dist.barrier()
        return self._result(ctx, history, best, resumed_from, epoch_seconds)

    def _agreed(self, value: int) -> int:
        """The ranks' mean of ``value``, rounded down: ranks time their epochs apart, yet must share one lr."""
        t = torch.tensor([float(value)], device=self.dist.device)
        self.dist.all_reduce_sum(t)
        return max(1, int(t.item() // self.dist.world_size))

    def _over_budget(self, elapsed: float, last_epoch: float) -> bool:
        """Whether one more epoch as long as the last would end past the budget (the same on every rank)."""
        t = torch.tensor([float(elapsed + last_epoch > self.cfg.time_budget_s)], device=self.dist.device)
        self.dist.all_reduce_sum(t)
        return bool(t.item() > 0)

    def _after_epoch(self, ctx: StepContext, schedulers: dict[str, LambdaLR], epoch: int, history: list[dict[str, float]],
                     best: tuple[float, int], improved: bool, sample_batch: dict[str, Any]) -> None:
        cfg, done = self.cfg, epoch + 1
        state = None
        if improved:
            state = self._state(ctx, schedulers, done, history, best)
            save_checkpoint(self.checkpoint_dir / "best.pt", {k: state[k] for k in ("epoch", "fingerprint", "config", "modules", "best")})
        if done % cfg.checkpoint_every == 0 or done == cfg.epochs:
            state = state or self._state(ctx, schedulers, done, history, best)
            save_checkpoint(self.checkpoint_dir / "last.pt", state)
            if self.sink is not None:
                self.sink.log_artifact(self.checkpoint_dir / "last.pt", "checkpoints")
        if self.history_csv is not None:
            write_history(self.history_csv, history)
        if self.sink is not None:
            self.sink.log_metrics({k: v for k, v in history[-1].items() if k != "epoch"}, step=done)
        if done % cfg.sample_every == 0 or done == cfg.epochs:
            path = self._samples(ctx, sample_batch, done)
            if path is not None and self.sink is not None:
                self.sink.log_artifact(path, "samples")
                self.sink.log_image(path, "samples", done)

    def _result(self, ctx: StepContext, history: list[dict[str, float]], best: tuple[float, int], resumed_from: int,
                epoch_seconds: list[float]) -> TrainResult:
        best_state = load_checkpoint(self.checkpoint_dir / "best.pt") if self.dist.is_main else None
        if self.dist.distributed:
            # Non-main ranks did not write best.pt; hand them rank 0's copy so all return the same model.
            holder = [best_state]
            torch.distributed.broadcast_object_list(holder, src=0)
            best_state = holder[0]
        final = {n: {k: v.detach().cpu().clone() for k, v in unwrap(m).state_dict().items()} for n, m in ctx.modules.items()}
        if best_state is not None and best_state.get("fingerprint") == self.fingerprint:
            final = best_state["modules"]
        modules = {}
        for name, module in ctx.modules.items():
            plain = unwrap(module).cpu().to(memory_format=torch.contiguous_format)
            plain.load_state_dict(final[name])
            plain.eval()
            modules[name] = plain
        return TrainResult(history, best[0], best[1], final, modules, resumed_from, epoch_seconds)
