"""Warp every pair's cloth with the trained GMM and write it as the try-on module's training input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.config_mapping import from_mapping
from pipeline.io.atomic import atomic_dir
from pipeline.log import get_logger
from pipeline.models.gmm import warp
from pipeline.stage_metrics import StageMetrics
from pipeline.train.data import VitonDataset
from pipeline.train.distributed import pick_device
from pipeline.train.inputs import cloth_input, person_input, to_device, worn_cloth
from pipeline.train.model_io import load_model

log = get_logger(__name__)


@dataclass(frozen=True)
class WarpConfig:
    """Settings of the warp stage; ``size`` should be the size the TOM trains at."""

    dataset: str = "data/dataset"
    model_dir: str = "data/train_gmm/model"
    size: tuple[int, int] = (256, 192)
    splits: tuple[str, ...] = ("train", "test")
    batch_size: int = 8
    workers: int = 0
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    device: str = "auto"
    pose_format: str = "auto"
    validate: str = "full"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WarpConfig":
        """Build from the ``warp:`` params block, rejecting unknown keys."""
        return from_mapping(cls, data, "warp")


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def write_warped(cfg: WarpConfig, out_dir: str | Path, metrics: StageMetrics) -> None:
    """Write ``out_dir/<split>/warped-cloth/<stem>.jpg`` and ``warped-mask/<stem>.png`` for every usable pair.

    Also records the mean L1 between the warped cloth and the worn garment per split
    in ``metrics.extra`` (how well the GMM fits, on the same data the TOM will see).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    gmm = load_model(cfg.model_dir, "gmm", device)
    with atomic_dir(out_dir) as tmp:
        for split in cfg.splits:
            ds = VitonDataset(cfg.dataset, split, size=cfg.size, pose_format=cfg.pose_format, validate=cfg.validate)
            metrics.items_in += len(ds) + sum(ds.skipped.values())
            for reason, n in ds.skipped.items():
                metrics.skipped[reason] += n
            cloth_dir, mask_dir = tmp / split / "warped-cloth", tmp / split / "warped-mask"
            cloth_dir.mkdir(parents=True)
            mask_dir.mkdir(parents=True)
            l1_sum = 0.0
            loader = DataLoader(ds, batch_size=cfg.batch_size, num_workers=cfg.workers, shuffle=False)
            for batch in tqdm(loader, desc=f"warp {split}"):
                batch = to_device(batch, device)
                grid, _ = gmm(person_input(batch), cloth_input(batch))
                warped = warp(batch["cloth"], grid)
                wmask = (warp(batch["cloth_mask"], grid) > 0.5).float()
                l1_sum += float((warped - worn_cloth(batch)).abs().mean(dim=(1, 2, 3)).sum())
                for name, img, mask in zip(batch["name"], warped, wmask):
                    stem = Path(name).stem
                    Image.fromarray(_to_uint8(img)).save(cloth_dir / f"{stem}.jpg", quality=95)
                    Image.fromarray((mask[0].cpu().numpy() * 255).astype(np.uint8)).save(mask_dir / f"{stem}.png")
                    metrics.items_out += 1
            metrics.extra[f"{split}_pairs"] = len(ds)
            metrics.extra[f"{split}_warp_l1"] = round(l1_sum / max(len(ds), 1), 6)
            log.info("warped", split=split, pairs=len(ds), l1=metrics.extra[f"{split}_warp_l1"])
