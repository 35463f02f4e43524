"""Single-tensor wrappers of the models, the form they are logged to MLflow in (exportable with ``torch.export``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pipeline.models.gmm import GMM, warp
from pipeline.models.tom import TOM
from pipeline.train.inputs import CLOTH_CHANNELS, PERSON_CHANNELS, cloth_input, person_input


# Channels of GMMExport's output: warped cloth RGB, warped mask, then the sampling grid (x, y in
# [-1, 1], align_corners=True). The grid is what lets inference sample the garment picture at the
# output's resolution (pipeline.infer.fullres): a warp is resolution-free, its 256x192 rendering is not.
WARP_CHANNELS = 6
# Channels of TOMExport's output: the try-on image RGB, then the composition mask (where the TOM pasted
# the warped cloth rather than rendering), which the full-resolution step needs to place the sharp garment.
TOM_CHANNELS = 4


class GMMExport(nn.Module):
    """``[B, 41 + 4, H, W]`` (person representation, cloth RGB, cloth mask) -> ``[B, 6, H, W]``: warped cloth,
    warped mask, sampling grid as two channels (see ``WARP_CHANNELS``)."""

    def __init__(self, gmm: GMM) -> None:
        super().__init__()
        self.gmm = gmm

    def forward(self, x: Tensor) -> Tensor:
        person, cloth = x[:, :PERSON_CHANNELS], x[:, PERSON_CHANNELS:PERSON_CHANNELS + CLOTH_CHANNELS]
        grid, _ = self.gmm(person, cloth)
        return torch.cat([warp(cloth, grid), grid.permute(0, 3, 1, 2)], dim=1)


class TOMExport(nn.Module):
    """``[B, 41 + 3 + 1, H, W]`` (person representation, warped cloth, warped mask) -> ``[B, 4, H, W]``: try-on image
    and composition mask (see ``TOM_CHANNELS``)."""

    def __init__(self, tom: TOM) -> None:
        super().__init__()
        self.tom = tom

    def forward(self, x: Tensor) -> Tensor:
        person = x[:, :PERSON_CHANNELS]
        cloth = x[:, PERSON_CHANNELS:PERSON_CHANNELS + 3]
        mask = x[:, PERSON_CHANNELS + 3:PERSON_CHANNELS + 4]
        out = self.tom(person, cloth, mask)
        return torch.cat([out.output, out.comp_mask], dim=1)


# Logged examples are small (MLflow stores them as JSON next to the model) but not so small that
# a feature map shrinks to one pixel, which torch.export would freeze as a constant.
EXAMPLE_HEIGHT = 64


def _small(x: Tensor) -> Tensor:
    if x.shape[0] == 1:
        x = x.repeat(2, 1, 1, 1)  # a batch of one would be exported as a fixed size
    h, w = x.shape[-2:]
    size = (EXAMPLE_HEIGHT, max(8, round(w * EXAMPLE_HEIGHT / h)))
    return torch.nn.functional.interpolate(x.float().cpu(), size=size, mode="bilinear", align_corners=False, antialias=True)


def gmm_example(batch: dict[str, Tensor]) -> Tensor:
    """Input example of :class:`GMMExport` from a data-set batch (its items, shrunk to 64 pixels high)."""
    return _small(torch.cat([person_input(batch), cloth_input(batch)], dim=1))


def tom_example(batch: dict[str, Tensor]) -> Tensor:
    """Input example of :class:`TOMExport` from a batch holding ``warped_cloth``/``warped_mask``."""
    return _small(torch.cat([person_input(batch), batch["warped_cloth"], batch["warped_mask"]], dim=1))
