"""Training the geometric matching module: warp the in-shop cloth onto the garment the person wears."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pipeline.models.gmm import GMM, GMMConfig, warp
from pipeline.models.losses import GMMLossWeights, gmm_loss
from pipeline.train.config import TrainConfig
from pipeline.train.init_weights import load_initial_weights
from pipeline.train.inputs import CLOTH_CHANNELS, PERSON_CHANNELS, cloth_input, person_input, worn_cloth
from pipeline.train.loop import StepContext, TrainTask


def gmm_config(cfg: TrainConfig) -> GMMConfig:
    """The GMM's config: channel counts fixed by the data, the rest from ``model:``."""
    return GMMConfig.from_dict({"person_channels": PERSON_CHANNELS, "cloth_channels": CLOTH_CHANNELS, **cfg.model})


class GMMTask(TrainTask):
    """GMM: one module; loss terms from :func:`pipeline.models.losses.gmm_loss` (l1, mask, smooth)."""

    stage = "train_gmm"
    main_module = "gmm"

    def __init__(self, cfg: TrainConfig) -> None:
        if cfg.discriminator:
            raise ValueError("train_gmm has no discriminator; remove the 'discriminator' params")
        self.cfg = cfg
        self.model_cfg = gmm_config(cfg)
        self.weights = GMMLossWeights.from_dict(cfg.loss_weights)

    def create_modules(self) -> dict[str, nn.Module]:
        gmm = GMM(self.model_cfg)
        if self.cfg.init_from:
            load_initial_weights(gmm, self.cfg.init_from, "gmm", self.model_cfg)
        return {"gmm": gmm}

    def _forward(self, gmm: nn.Module, batch: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        grid, theta, flow = gmm(person_input(batch), cloth_input(batch), return_flow=True)
        return warp(batch["cloth"], grid), warp(batch["cloth_mask"], grid), theta, flow

    def train_step(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        with ctx.autocast():
            warped, wmask, theta, flow = self._forward(ctx.modules["gmm"], batch)
        terms = gmm_loss(warped.float(), batch["image"], batch["worn_mask"], theta.float(), self.model_cfg.grid_size,
                         warped_mask=wmask.float(), weights=self.weights, flow=flow)
        ctx.backward_step(terms["total"], "gmm")
        return {("loss" if k == "total" else k): v.detach() for k, v in terms.items()}

    def predict(self, ctx: StepContext, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        warped, _, _, _ = self._forward(ctx.modules["gmm"], batch)
        return warped, worn_cloth(batch)

    def validation_metrics(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        # The warped mask's IoU against the worn garment: the measure the GMM is judged by.
        _, wmask, _, _ = self._forward(ctx.modules["gmm"], batch)
        pred, target = wmask.float() > 0.5, batch["worn_mask"] > 0.5
        inter = (pred & target).sum(dim=(1, 2, 3)).float()
        union = (pred | target).sum(dim=(1, 2, 3)).float()
        return {"mask_iou": torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))}

    def sample_columns(self, ctx: StepContext, batch: dict[str, Any]) -> list[Tensor]:
        warped, wmask, _, _ = self._forward(ctx.modules["gmm"], batch)
        overlay = batch["image"] * (1 - wmask) + warped * wmask
        return [batch["image"], batch["cloth"], warped, overlay]
