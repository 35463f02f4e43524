"""Small building blocks shared by the try-on networks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups: batch-size independent (batch 1 trains fine) and ONNX-friendly."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def conv_norm_act(
    c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int | None = None, normalise: bool = True
) -> nn.Sequential:
    """Conv → GroupNorm (unless ``normalise`` is False) → LeakyReLU(0.2); padding defaults to ``kernel // 2``."""
    pad = kernel // 2 if padding is None else padding
    conv = nn.Conv2d(c_in, c_out, kernel, stride, pad, bias=not normalise)
    return nn.Sequential(conv, norm(c_out), nn.LeakyReLU(0.2, inplace=True)) if normalise else nn.Sequential(
        conv, nn.LeakyReLU(0.2, inplace=True)
    )


class ResBlock(nn.Module):
    """Pre-activation residual block of two 3x3 convolutions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            norm(channels), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 3, 1, 1),
            norm(channels), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 3, 1, 1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all positions of a (low-resolution) feature map, with a residual."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention channels {channels} not divisible by heads {heads}")
        self.heads = heads
        self.norm = norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        # [B, heads, tokens, dim] for scaled_dot_product_attention
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class AttentionGate(nn.Module):
    """Additive attention gate (Attention U-Net): the decoder signal decides which skip features pass."""

    def __init__(self, skip_channels: int, gate_channels: int) -> None:
        super().__init__()
        inter = max(skip_channels // 2, 1)
        self.w_skip = nn.Conv2d(skip_channels, inter, 1, bias=False)
        self.w_gate = nn.Conv2d(gate_channels, inter, 1)
        self.psi = nn.Conv2d(inter, 1, 1)

    def forward(self, skip: Tensor, gate: Tensor) -> Tensor:
        """``gate`` must already have ``skip``'s spatial size."""
        alpha = torch.sigmoid(self.psi(F.relu(self.w_skip(skip) + self.w_gate(gate))))
        return skip * alpha
