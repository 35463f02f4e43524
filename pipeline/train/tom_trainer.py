"""Training the try-on module on cloth the trained GMM has warped (written by the warp stage)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pipeline.models.discriminator import DiscriminatorConfig, MultiScaleDiscriminator, discriminator_loss, logits
from pipeline.models.losses import TOMLoss, TOMLossWeights
from pipeline.models.repaint import blend, soft_region
from pipeline.models.tom import TOM, TOMConfig, TOMOutput
from pipeline.train.config import TrainConfig
from pipeline.train.distributed import unwrap
from pipeline.train.init_weights import load_initial_weights
from pipeline.train.inputs import PERSON_CHANNELS, person_input
from pipeline.train.loop import StepContext, TrainTask

# The discriminator judges the try-on image conditioned on the agnostic person (3 + 3 channels).
DISC_CHANNELS = 6


def tom_config(cfg: TrainConfig) -> TOMConfig:
    """The TOM's config: ``in_channels`` fixed by the data (the person representation), the rest from ``model:``."""
    return TOMConfig.from_dict({"in_channels": PERSON_CHANNELS, **cfg.model})


def composed(out: TOMOutput, batch: dict[str, Any], alpha: Tensor | None = None) -> TOMOutput:
    """The TOM's output repainted into the person photo: it may differ from it only inside the try-on region.

    ``alpha`` is the region's blend weight when the caller already has it.
    """
    alpha = soft_region(batch["agnostic_mask"]) if alpha is None else alpha
    return out._replace(output=blend(batch["image"], out.output, alpha))


class TOMTask(TrainTask):
    """TOM (+ a multi-scale PatchGAN discriminator when ``loss_weights.adversarial`` or ``feature_matching`` > 0).

    Every loss sees the output repainted into the photo (:mod:`pipeline.models.repaint`), so the
    generator is trained for the try-on region alone, exactly as it is used.

    Building the task builds the loss, so missing VGG weights fail here, before
    any training, with :class:`~pipeline.models.vgg.MissingWeightsError`.
    """

    stage = "train_tom"
    main_module = "tom"

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.model_cfg = tom_config(cfg)
        self.weights = TOMLossWeights.from_dict(cfg.loss_weights)
        self.disc_cfg = (
            DiscriminatorConfig.from_dict({"in_channels": DISC_CHANNELS, **cfg.discriminator})
            if self.weights.adversarial or self.weights.feature_matching else None
        )
        gan = self.disc_cfg.loss if self.disc_cfg else "hinge"
        vgg_size = None if cfg.vgg_scale == 1 else tuple(max(32, round(v * cfg.vgg_scale)) for v in cfg.size)
        self.loss = TOMLoss(self.weights, vgg_weights=cfg.vgg_weights or None, vgg_size=vgg_size, gan_loss=gan,
                            mask_target=cfg.mask_target)

    def create_modules(self) -> dict[str, nn.Module]:
        tom = TOM(self.model_cfg)
        if self.cfg.init_from:
            load_initial_weights(tom, self.cfg.init_from, "tom", self.model_cfg)
        modules: dict[str, nn.Module] = {"tom": tom}
        if self.disc_cfg is not None:
            modules["disc"] = MultiScaleDiscriminator(self.disc_cfg)
        return modules

    def _forward(self, tom: nn.Module, batch: dict[str, Any]) -> TOMOutput:
        return tom(person_input(batch), batch["warped_cloth"], batch["warped_mask"])

    def train_step(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, Tensor]:
        self.loss.to(ctx.device)
        target, agnostic = batch["image"], batch["agnostic"]
        region = soft_region(batch["agnostic_mask"])
        disc = ctx.modules.get("disc")
        with ctx.autocast():
            out = composed(self._forward(ctx.modules["tom"], batch), batch, region)
            fake_feats = real_feats = None
            if disc is not None:
                # Generator step: gradients flow through D into the TOM but D itself stays fixed
                # (the plain module, so DDP does not expect a gradient reduction for D here).
                plain = unwrap(disc)
                plain.requires_grad_(False)
                fake_feats = plain(torch.cat([agnostic, out.output], dim=1))
                if self.weights.feature_matching:
                    with torch.no_grad():
                        real_feats = plain(torch.cat([agnostic, target], dim=1))
        out = TOMOutput(*(None if t is None else t.float() for t in out))
        as_float = (lambda fs: None if fs is None else [[f.float() for f in scale] for scale in fs])  # noqa: E731
        fake_feats, real_feats = as_float(fake_feats), as_float(real_feats)
        terms = self.loss(out, target, warped_mask=batch["warped_mask"],
                          fake_logits=None if fake_feats is None else logits(fake_feats), region=region,
                          fake_features=fake_feats, real_features=real_feats, worn_mask=batch["worn_mask"])
        ctx.backward_step(terms["total"], "tom")
        result = {("loss" if k == "total" else k): v.detach() for k, v in terms.items()}
        if disc is not None:
            unwrap(disc).requires_grad_(True)
            with ctx.autocast():
                # Real and fake in one forward: DDP allows one forward per backward.
                pair = torch.cat([torch.cat([agnostic, target], 1), torch.cat([agnostic, out.output.detach()], 1)], 0)
                scales = [lg.float().chunk(2, dim=0) for lg in logits(disc(pair))]
            d_loss = discriminator_loss([r for r, _ in scales], [f for _, f in scales],
                                        self.disc_cfg.loss if self.disc_cfg else "hinge")
            ctx.backward_step(d_loss, "disc")
            result["disc"] = d_loss.detach()
        return result

    def predict(self, ctx: StepContext, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        return composed(self._forward(ctx.modules["tom"], batch), batch).output, batch["image"]

    def sample_columns(self, ctx: StepContext, batch: dict[str, Any]) -> list[Tensor]:
        out = composed(self._forward(ctx.modules["tom"], batch), batch)
        return [batch["image"], batch["cloth"], batch["warped_cloth"], out.output]
