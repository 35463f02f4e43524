"""How a batch from :class:`~pipeline.train.data.VitonDataset` becomes model inputs (shared by training, warping and inference)."""

from __future__ import annotations

from typing import Any

import torch

from pipeline.train.parse_groups import NUM_GROUPS
from pipeline.train.pose_maps import NUM_JOINTS

# agnostic RGB + pose heatmaps + parse-agnostic groups
PERSON_CHANNELS = 3 + NUM_JOINTS + NUM_GROUPS
CLOTH_CHANNELS = 4  # cloth RGB + cloth mask


def person_input(batch: dict[str, Any]) -> torch.Tensor:
    """``[B, 41, H, W]`` person representation without the garment (input of both GMM and TOM)."""
    return torch.cat([batch["agnostic"], batch["pose"], batch["parse_agnostic"]], dim=1)


def cloth_input(batch: dict[str, Any]) -> torch.Tensor:
    """``[B, 4, H, W]`` in-shop cloth and its mask."""
    return torch.cat([batch["cloth"], batch["cloth_mask"]], dim=1)


def worn_cloth(batch: dict[str, Any]) -> torch.Tensor:
    """The garment as worn in the photo, on white: the GMM's target."""
    mask = batch["worn_mask"]
    return batch["image"] * mask + (1 - mask)


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """Move the tensors of a batch to ``device`` (names and categories stay lists), images NHWC when asked."""
    def move(v: torch.Tensor) -> torch.Tensor:
        v = v.to(device, non_blocking=True)
        return v.contiguous(memory_format=torch.channels_last) if channels_last and v.dim() == 4 else v

    return {k: move(v) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
