"""PatchGAN discriminators (pix2pix, and pix2pixHD's multi-scale form) and their adversarial losses.

``num_scales`` > 1 runs one PatchGAN per scale on the input average-pooled by 2 each time, as
pix2pixHD and HR-VITON do: the coarse one judges the global layout, the fine one texture. Each
returns its intermediate activations too, for the feature-matching loss, which needs no
pretrained network (unlike the VGG perceptual loss) and steadies the generator.

Normalisation: ``"spectral"`` (default) wraps every conv in spectral norm and uses no
feature normalisation, which keeps the discriminator Lipschitz-bounded and stable with
the hinge loss; ``"instance"`` is the pix2pix original (InstanceNorm after the inner convs).
Loss: ``"hinge"`` (default; D: relu(1 - real) + relu(1 + fake), G: -fake) or ``"lsgan"``
(least squares; D: (real - 1)^2 + fake^2, G: (fake - 1)^2). Both average over patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from pipeline.config_mapping import from_mapping

GanLoss = Literal["hinge", "lsgan"]


@dataclass
class DiscriminatorConfig:
    """``in_channels``: what the caller feeds, e.g. image 3 (+ conditioning channels)."""

    in_channels: int
    ndf: int = 64
    n_layers: int = 3  # 3 gives the classic 70x70 receptive field
    norm: Literal["spectral", "instance"] = "spectral"
    loss: GanLoss = "hinge"
    num_scales: int = 1  # pix2pixHD uses 2-3: one PatchGAN per scale, the input halved for each next one

    def __post_init__(self) -> None:
        if self.norm not in ("spectral", "instance") or self.loss not in ("hinge", "lsgan"):
            raise ValueError(f"norm must be spectral|instance and loss hinge|lsgan, got {self.norm!r}, {self.loss!r}")
        if self.num_scales < 1 or self.n_layers < 1 or self.ndf < 1:
            raise ValueError(f"discriminator num_scales, n_layers and ndf must be >= 1, got {self}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorConfig:
        """Build from a params block; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "discriminator")


class PatchDiscriminator(nn.Module):
    """Fully convolutional real/fake classifier returning one logit per overlapping patch."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        sn = spectral_norm if cfg.norm == "spectral" else (lambda m: m)
        chans = [cfg.in_channels] + [cfg.ndf * min(2**i, 8) for i in range(cfg.n_layers + 1)]
        blocks: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(chans, chans[1:])):
            stride = 2 if i < cfg.n_layers else 1
            layers: list[nn.Module] = [sn(nn.Conv2d(a, b, 4, stride, 1))]
            if cfg.norm == "instance" and i > 0:
                layers.append(nn.InstanceNorm2d(b, affine=True))
            layers.append(nn.LeakyReLU(0.2))
            blocks.append(nn.Sequential(*layers))
        blocks.append(sn(nn.Conv2d(chans[-1], 1, 4, 1, 1)))
        self.net = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Patch logits [B, 1, h, w]."""
        return self.net(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """Each block's activation, the patch logits last."""
        out = []
        for block in self.net:
            x = block(x)
            out.append(x)
        return out


class MultiScaleDiscriminator(nn.Module):
    """``cfg.num_scales`` PatchGANs on the input at 1, 1/2, 1/4, ... (pix2pixHD)."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.scales = nn.ModuleList(PatchDiscriminator(cfg) for _ in range(cfg.num_scales))

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        """Per scale, the activations of every block, the patch logits last."""
        out = []
        for k, disc in enumerate(self.scales):
            if k:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(disc.features(x))
        return out


def logits(features: list[list[Tensor]]) -> list[Tensor]:
    """The patch logits of every scale of a :class:`MultiScaleDiscriminator` output."""
    return [f[-1] for f in features]


def feature_matching_loss(fake: list[list[Tensor]], real: list[list[Tensor]]) -> Tensor:
    """pix2pixHD's L1 between the discriminator's activations on fake and (fixed) real images, logits left out.

    Averaged over layers and scales, so the term's size does not depend on the architecture.
    """
    terms = [F.l1_loss(f, r.detach()) for fs, rs in zip(fake, real) for f, r in zip(fs[:-1], rs[:-1])]
    return torch.stack(terms).mean() if terms else fake[0][-1].new_zeros(())


def discriminator_loss(real_logits: Tensor | list[Tensor], fake_logits: Tensor | list[Tensor], loss: GanLoss = "hinge") -> Tensor:
    """Loss for the discriminator step (pass ``fake_logits`` of detached generator outputs); lists are per scale, averaged."""
    if isinstance(real_logits, list):
        return torch.stack([discriminator_loss(r, f, loss) for r, f in zip(real_logits, fake_logits)]).mean()  # type: ignore[arg-type]
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return ((real_logits - 1) ** 2).mean() + (fake_logits**2).mean()


def generator_adversarial_loss(fake_logits: Tensor | list[Tensor], loss: GanLoss = "hinge") -> Tensor:
    """Adversarial term for the generator step; a list is per scale, averaged."""
    if isinstance(fake_logits, list):
        return torch.stack([generator_adversarial_loss(f, loss) for f in fake_logits]).mean()
    if loss == "hinge":
        return -fake_logits.mean()
    return ((fake_logits - 1) ** 2).mean()
