"""A small U-Net human parser: RGB in, per-pixel logits over the CIHP labels out.

The offline default parser (MediaPipe masks + colour models) is weakest on hair, legs and
the face outline. A data set that ships its own parse maps (VITON's LIP maps, VITON-HD's
CIHP maps) can teach this network instead; ``pipeline.train.parse_trainer`` trains it and
exports it to ONNX, which the existing ``onnx`` parser backend runs.

The decoder stops at half the input resolution and the logits are upsampled bilinearly, as
SCHP does at a quarter: label boundaries are smooth, and the full-resolution layers would
double the cost of a CPU step for little gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.annotate.parse.labels import CIHP_LABELS


@dataclass(frozen=True)
class ParseNetConfig:
    """Width of each encoder level (the first runs at half resolution) and the number of labels."""

    widths: tuple[int, ...] = (32, 64, 128, 192)
    n_labels: int = len(CIHP_LABELS)

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        if len(widths) < 2 or min(widths) < 4:
            raise ValueError(f"train_parse.widths needs at least two levels of 4 or more channels, got {self.widths!r}")
        object.__setattr__(self, "widths", widths)
        if self.n_labels < 2:
            raise ValueError("a parser needs at least two labels")

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (each level halves them)."""
        return 2 ** len(self.widths)


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    # BatchNorm rather than the try-on nets' GroupNorm: batches here are >= 4 and BN is
    # folded into the convolution at export, which is what keeps CPU inference cheap.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ParseNet(nn.Module):
    """Encoder of strided 3x3 blocks, decoder of upsample + skip concatenation, logits at full size."""

    def __init__(self, cfg: ParseNetConfig = ParseNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        self.stem = nn.Sequential(_conv_bn_relu(3, w[0], 2), _conv_bn_relu(w[0], w[0]))
        self.down = nn.ModuleList(nn.Sequential(_conv_bn_relu(a, b, 2), _conv_bn_relu(b, b)) for a, b in zip(w, w[1:]))
        ups: list[nn.Module] = []
        c = w[-1]
        for skip in reversed(w[:-1]):
            ups.append(_conv_bn_relu(c + skip, skip))
            c = skip
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(c, cfg.n_labels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [B, 3, H, W] RGB normalised to [-1, 1]; returns [B, n_labels, H, W] logits."""
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(feats[-1]))
        y = feats.pop()
        for block in self.up:
            skip = feats.pop()
            y = block(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
