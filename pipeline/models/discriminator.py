"""PatchGAN discriminator (pix2pix) and its adversarial losses.

Normalisation: ``"spectral"`` (default) wraps every conv in spectral norm and uses no
feature normalisation, which keeps the discriminator Lipschitz-bounded and stable with
the hinge loss; ``"instance"`` is the pix2pix original (InstanceNorm after the inner convs).
Loss: ``"hinge"`` (default; D: relu(1 - real) + relu(1 + fake), G: -fake) or ``"lsgan"``
(least squares; D: (real - 1)^2 + fake^2, G: (fake - 1)^2). Both average over patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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

    def __post_init__(self) -> None:
        if self.norm not in ("spectral", "instance") or self.loss not in ("hinge", "lsgan"):
            raise ValueError(f"norm must be spectral|instance and loss hinge|lsgan, got {self.norm!r}, {self.loss!r}")

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
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(chans, chans[1:])):
            stride = 2 if i < cfg.n_layers else 1
            layers.append(sn(nn.Conv2d(a, b, 4, stride, 1)))
            if cfg.norm == "instance" and i > 0:
                layers.append(nn.InstanceNorm2d(b, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        layers.append(sn(nn.Conv2d(chans[-1], 1, 4, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Patch logits [B, 1, h, w]."""
        return self.net(x)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, loss: GanLoss = "hinge") -> Tensor:
    """Loss for the discriminator step (pass ``fake_logits`` of detached generator outputs)."""
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return ((real_logits - 1) ** 2).mean() + (fake_logits**2).mean()


def generator_adversarial_loss(fake_logits: Tensor, loss: GanLoss = "hinge") -> Tensor:
    """Adversarial term for the generator step."""
    if loss == "hinge":
        return -fake_logits.mean()
    return ((fake_logits - 1) ** 2).mean()
