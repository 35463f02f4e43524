"""One code path for single-process and ``torchrun`` (DDP) training, on CPU (gloo) or GPUs (nccl)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pipeline.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: its rank, the world size and its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main rank writes checkpoints, metrics and MLflow records."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks (in place, on this rank's device) and return it."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` in DDP when distributed and it has trainable parameters, else unchanged."""
        if not self.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """CUDA (this process's GPU) when present and allowed, else CPU."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but no CUDA GPU is visible; use device: auto or cpu")
    if preference != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(preference: str = "auto") -> DistContext:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (set by ``torchrun``) and join the process group if > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        log.info("joined process group", backend=backend, rank=rank, world=world, device=device)
    return DistContext(rank=rank, local_rank=local_rank, world_size=world, device=device)


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op when not distributed)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper."""
    return module.module if isinstance(module, DistributedDataParallel) else module
