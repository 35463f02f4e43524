"""Try-On Module: render the person wearing the warped cloth and a mask that composites the two.

An attention U-Net built to be cheap at full resolution:

* full resolution (1/1): one 1x1 conv into a few channels, kept for the refinement head;
* a 2x2 stride-2 "patchify" stem, then stride-2 3x3 convs down to 1/32;
* the heavy blocks sit at 1/8-1/32, with multi-head self-attention at the bottleneck
  (that is also where most parameters are: a 3x3 conv there costs the same compute as one
  with half the channels an octave up, for four times the parameters);
* the decoder upsamples, merges each skip through an additive attention gate and refines;
* a light head upsamples 1/2-resolution features, joins them with the full-resolution
  features and predicts RGB (tanh) and the composition mask (sigmoid) at full size.

Any input size works (decoder stages resize to their skip's size); multiples of 32 waste nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.config_mapping import from_mapping
from pipeline.models.background_fill import fill_hidden, hidden_area
from pipeline.models.layers import AttentionGate, ResBlock, SelfAttention, conv_norm_act


@dataclass
class TOMConfig:
    """TOM hyper-parameters. ``in_channels`` counts only ``inputs`` (agnostic 3 + pose maps [+ others]);
    the warped cloth (3) and, with ``use_mask``, the warped mask (1) are added by the model."""

    in_channels: int
    ngf: int = 64
    use_mask: bool = True
    # residual blocks per level (1/2, 1/4, 1/8, 1/16) in both encoder and decoder
    level_blocks: tuple[int, int, int, int] = (0, 0, 1, 1)
    bottleneck_blocks: int = 4  # residual blocks at 1/32, around the self-attention
    attention_heads: int = 8
    head_channels: int = 8  # width of the full-resolution refinement head
    # Compose over a guess of the backdrop: the agnostic's grey area filled from the surrounding
    # pixels (pipeline.models.background_fill) is an input, and the rendered image is a residual
    # on it, so where the new garment does not reach the backdrop comes for free instead of being
    # painted from nothing. The composition mask is also held inside the warped cloth's mask:
    # outside it the warped image is its white surround, never garment. ``inputs`` must start
    # with the agnostic RGB, as person_input builds it.
    background_input: bool = False
    # Predict the worn garment's shape, and let it decide where the garment goes. The warp's outline
    # is the GMM's guess, and on real photos it misses sleeve ends and hems (warped-mask IoU about
    # 0.8); painting a flat colour into the exact worn shape already beats pasting the warp
    # (benchmarks/bench_tom_paste.py). With this on, a sigmoid head predicts the garment's mask
    # (``TOMOutput.garment``, trained against the parse's worn garment), the pasted cloth is held
    # inside it, and inside it the rendered image is a residual on the warped cloth extended
    # outwards (its colours carried past its outline) instead of on the backdrop guess, so a
    # garment longer than its warp is painted in its own colours. Needs ``use_mask``.
    garment_shape: bool = False
    # Let the paste reach this many pixels (at the model's input size) past the warp's outline,
    # with the warped cloth's edge colours carried outwards there. On viton256 the warp misses
    # 8 % of the worn garment's pixels, mostly a band one to three pixels wide round its outline,
    # and there the TOM painted skin or backdrop (9.5 dB against 15.8 dB for a flat garment
    # colour): with a margin, the composition mask can decide pixel by pixel to extend the
    # garment instead. Needs ``use_mask``; 0 keeps the paste inside the warped mask.
    paste_margin: int = 0

    def __post_init__(self) -> None:
        self.level_blocks = tuple(self.level_blocks)  # type: ignore[assignment]
        if len(self.level_blocks) != 4:
            raise ValueError(f"level_blocks needs 4 entries (1/2, 1/4, 1/8, 1/16), got {self.level_blocks}")
        if self.in_channels < 1 or self.ngf < 2 or self.head_channels < 1 or self.bottleneck_blocks < 0:
            raise ValueError(f"invalid TOMConfig {self}")
        if self.paste_margin < 0:
            raise ValueError(f"TOMConfig paste_margin must be >= 0 pixels, got {self.paste_margin}")
        if self.paste_margin and not self.use_mask:
            raise ValueError("TOMConfig paste_margin needs use_mask: the margin is measured from the warped cloth's mask")
        if self.garment_shape and not self.use_mask:
            raise ValueError("TOMConfig garment_shape needs use_mask: the garment's colours come from the warped cloth inside its mask")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TOMConfig:
        """Build from a params block; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "TOM")


class TOMOutput(NamedTuple):
    """``output`` = comp_mask * warped_cloth + (1 - comp_mask) * rendered, all at the input size."""

    output: Tensor  # [B, 3, H, W] in [-1, 1]
    rendered: Tensor  # [B, 3, H, W] in [-1, 1]
    comp_mask: Tensor  # [B, 1, H, W] in [0, 1]
    garment: Tensor | None = None  # [B, 1, H, W] in [0, 1]: the predicted worn garment (garment_shape only)
    paste_area: Tensor | None = None  # [B, 1, H, W]: where the paste may reach (paste_margin > 0 only)


# Logit the garment head adds for "inside the warped mask" (and subtracts outside it).
SHAPE_PRIOR = 3.0


def _residual(logits: Tensor, guess: Tensor) -> Tensor:
    """tanh(logits + atanh(guess)): a zero residual gives the guess back exactly.

    atanh is written out as a log because ONNX's TorchScript exporter has no atanh.
    """
    guess = guess.clamp(-0.999, 0.999)
    return torch.tanh(logits + 0.5 * torch.log((1 + guess) / (1 - guess)))


class Down(nn.Module):
    """Stride-2 3x3 conv then residual blocks."""

    def __init__(self, c_in: int, c_out: int, blocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_norm_act(c_in, c_out, 3, stride=2), *[ResBlock(c_out) for _ in range(blocks)])

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Up(nn.Module):
    """Upsample to the skip's size, gate the skip with the upsampled signal, fuse, refine."""

    def __init__(self, c_in: int, c_out: int, blocks: int) -> None:
        super().__init__()
        self.reduce = conv_norm_act(c_in, c_out, 1)
        self.gate = AttentionGate(c_out, c_out)
        self.fuse = conv_norm_act(2 * c_out, c_out, 1)
        # a level without residual blocks still gets one 3x3 conv to mix spatially
        refine = [ResBlock(c_out) for _ in range(blocks)] if blocks else [conv_norm_act(c_out, c_out, 3)]
        self.blocks = nn.Sequential(*refine)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.reduce(F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
        return self.blocks(self.fuse(torch.cat([x, self.gate(skip, x)], dim=1)))


class TOM(nn.Module):
    """Attention U-Net try-on generator; see the module docstring."""

    def __init__(self, cfg: TOMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c_in = cfg.in_channels + 3 + int(cfg.use_mask) + 3 * int(cfg.background_input)
        chans = [cfg.ngf // 2, cfg.ngf, 2 * cfg.ngf, 4 * cfg.ngf, 8 * cfg.ngf]  # 1/2 .. 1/32
        hc = cfg.head_channels
        self.full = nn.Sequential(nn.Conv2d(c_in, hc, 1), nn.LeakyReLU(0.2))
        self.stem = nn.Sequential(
            conv_norm_act(c_in, chans[0], kernel=2, stride=2, padding=0),
            *[ResBlock(chans[0]) for _ in range(cfg.level_blocks[0])],
        )
        self.downs = nn.ModuleList(Down(chans[i], chans[i + 1], cfg.level_blocks[i + 1]) for i in range(3))
        half = cfg.bottleneck_blocks // 2
        self.bottleneck = nn.Sequential(
            Down(chans[3], chans[4], half),
            SelfAttention(chans[4], cfg.attention_heads),
            *[ResBlock(chans[4]) for _ in range(cfg.bottleneck_blocks - half)],
        )
        self.ups = nn.ModuleList(Up(chans[i + 1], chans[i], cfg.level_blocks[i]) for i in reversed(range(4)))
        self.to_head = nn.Sequential(nn.Conv2d(chans[0], hc, 1), nn.LeakyReLU(0.2))
        # 1x1 then one 3x3: full-resolution convolutions dominate the cost of this head
        # RGB + composition mask; with garment_shape also the garment's mask logit and its own RGB
        head_out = 8 if cfg.garment_shape else 4
        self.head = nn.Sequential(nn.Conv2d(2 * hc, hc, 1), nn.LeakyReLU(0.2), nn.Conv2d(hc, head_out, 3, 1, 1))

    def forward(self, inputs: Tensor, warped_cloth: Tensor, warped_mask: Tensor | None = None) -> TOMOutput:
        """``inputs`` [B, in_channels, H, W], ``warped_cloth`` [B, 3, H, W] in [-1, 1], ``warped_mask``
        [B, 1, H, W] in [0, 1] (required when ``use_mask``, ignored otherwise)."""
        parts = [inputs, warped_cloth]
        fill = None
        if self.cfg.background_input:
            agnostic = inputs[:, :3]
            fill = fill_hidden(agnostic, hidden_area(agnostic))
            parts.append(fill)
        if self.cfg.use_mask:
            if warped_mask is None:
                raise ValueError("TOM was configured with use_mask=True but no warped_mask was given")
            parts.append(warped_mask)
        x = torch.cat(parts, dim=1)
        full = self.full(x)
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = self.bottleneck(skips[-1])
        for up, skip in zip(self.ups, reversed(skips)):
            h = up(h, skip)
        h = F.interpolate(self.to_head(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
        out = self.head(torch.cat([h, full], dim=1))
        rendered = _residual(out[:, :3], fill) if fill is not None else torch.tanh(out[:, :3])
        comp_mask = torch.sigmoid(out[:, 3:4])
        paste, paste_area = warped_cloth, None
        if self.cfg.paste_margin and warped_mask is not None:
            m = self.cfg.paste_margin
            paste_area = F.max_pool2d(warped_mask, 2 * m + 1, stride=1, padding=m)
            paste = fill_hidden(warped_cloth, 1 - warped_mask)  # the cloth itself inside its mask
            comp_mask = comp_mask * paste_area
        elif self.cfg.background_input and warped_mask is not None:
            comp_mask = comp_mask * warped_mask
        garment = None
        if self.cfg.garment_shape:
            assert warped_mask is not None  # use_mask is required, and checked above
            # A residual on the warp's outline: a zero head keeps the GMM's shape (sigmoid(+-3) =
            # 0.95 / 0.05) and learns only where to cut or extend it. A head learning the shape from
            # nothing reached IoU 0.73 against the worn garment in two CPU epochs, below the
            # warp's own 0.80, and gated the paste with the worse outline.
            garment = torch.sigmoid(out[:, 4:5] + SHAPE_PRIOR * (2 * warped_mask - 1))
            extended = paste if paste_area is not None else fill_hidden(warped_cloth, 1 - warped_mask)
            rendered = garment * _residual(out[:, 5:8], extended) + (1 - garment) * rendered
            comp_mask = comp_mask * garment
        output = comp_mask * paste + (1 - comp_mask) * rendered
        return TOMOutput(output, rendered, comp_mask, garment, paste_area)
