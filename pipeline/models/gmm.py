"""Geometric Matching Module (CP-VTON): predict a thin-plate-spline warp that fits the cloth to the person.

Both inputs are resized to a fixed low working resolution (default 256x192), where two
encoders extract L2-normalised features; their dense correlation is regressed to offsets
of a GxG lattice of TPS control points; the spline is evaluated at the working size and
the grid upsampled to the input size, so a 1024x768 input costs about as much as 256x192.

With ``flow_refine`` a small convolutional net then looks at the person and the TPS-warped cloth
and adds a smooth dense flow to the spline's grid, for what a 5x5 spline cannot bend: sleeves
raised or held against the body, a hem lower on one side.

With ``pose_anchor`` the spline starts from a similarity fitted to the person's neck and shoulders
(:mod:`pipeline.models.pose_anchor`) rather than from the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.config_mapping import from_mapping
from pipeline.models.layers import ResBlock, conv_norm_act
from pipeline.models.pose_anchor import PoseAnchor, compose
from pipeline.models.tps import TPSGridGen

_FEATURE_STRIDE = 16  # four stride-2 convolutions in each feature extractor
_REGRESSOR_STRIDE = 4  # two more in the regressor
NUM_POSE_CHANNELS = 25  # BODY_25 heatmaps; the twin of pipeline.train.pose_maps.NUM_JOINTS (models do not import train)


@dataclass
class GMMConfig:
    """GMM hyper-parameters. ``person_channels`` = agnostic 3 + pose maps + parse-agnostic groups."""

    person_channels: int
    cloth_channels: int = 4  # cloth RGB + cloth mask
    grid_size: int = 5
    ngf: int = 64
    work_size: tuple[int, int] = (256, 192)  # (height, width) where features and the spline are computed
    # A dense flow on top of the spline (FlowRefiner), trained with loss_weights.flow_smooth.
    # Off in params.yaml, whose stiff spline suits the demo's 24 synthetic products; bench_viton's
    # recipes for real photos turn it on (docs/training.md: warped-mask IoU 0.840 vs 0.797 on viton256).
    flow_refine: bool = False
    flow_channels: int = 32
    # Start from a similarity that puts the cloth on the person's neck and shoulders (PoseAnchor)
    # instead of from the identity; needs BODY_25 heatmaps at person channels pose_channel..+25.
    pose_anchor: bool = False
    pose_channel: int = 3  # agnostic RGB comes first (pipeline.train.inputs)

    def __post_init__(self) -> None:
        self.work_size = tuple(self.work_size)  # type: ignore[assignment]
        h, w = self.work_size
        stride = _FEATURE_STRIDE * _REGRESSOR_STRIDE
        if h % _FEATURE_STRIDE or w % _FEATURE_STRIDE or h < stride or w < stride:
            raise ValueError(f"work_size {self.work_size} must be multiples of 16 and at least 64 on each side")
        if self.person_channels < 1 or self.cloth_channels < 1 or self.ngf < 1 or self.grid_size < 2 or self.flow_channels < 1:
            raise ValueError(f"invalid GMMConfig {self}")
        if self.pose_anchor and not 0 <= self.pose_channel <= self.person_channels - NUM_POSE_CHANNELS:
            raise ValueError(f"pose_anchor needs {NUM_POSE_CHANNELS} pose channels from pose_channel={self.pose_channel} "
                             f"within person_channels={self.person_channels}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GMMConfig:
        """Build from a params block; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "GMM")


def feature_extractor(c_in: int, ngf: int) -> nn.Sequential:
    """Four stride-2 4x4 convolutions (to 1/16) and one 3x3, CP-VTON style."""
    chans = [c_in, ngf, 2 * ngf, 4 * ngf, 8 * ngf]
    layers = [conv_norm_act(a, b, kernel=4, stride=2, padding=1) for a, b in zip(chans, chans[1:])]
    return nn.Sequential(*layers, conv_norm_act(8 * ngf, 8 * ngf, kernel=3))


def l2_normalise(x: Tensor) -> Tensor:
    """Unit-length feature vectors along channels (the correlation then is a cosine similarity)."""
    return x / torch.sqrt(torch.sum(x * x, dim=1, keepdim=True) + 1e-6)


def correlation(person: Tensor, cloth: Tensor) -> Tensor:
    """``[B, h*w, h, w]``: for each person position, its similarity to every cloth position."""
    b, c, h, w = person.shape
    corr = torch.bmm(cloth.reshape(b, c, h * w).transpose(1, 2), person.reshape(b, c, h * w))
    return corr.reshape(b, h * w, h, w)


class FlowRefiner(nn.Module):
    """A dense correction of the spline's sampling grid, predicted at a quarter of the working size.

    Input: the person representation and the TPS-warped cloth and mask at the working size. Three
    stride-2 convolutions reach 1/8 (where two residual blocks see about a quarter of the body),
    one step back up joins the 1/4 features, and a 3x3 convolution gives the flow in grid units
    ([-1, 1] across the image). The last layer starts at zero, so training starts from the spline.
    """

    def __init__(self, c_in: int, channels: int) -> None:
        super().__init__()
        c = channels
        self.down1 = conv_norm_act(c_in, c, kernel=4, stride=2, padding=1)
        self.down2 = conv_norm_act(c, 2 * c, kernel=4, stride=2, padding=1)
        self.down3 = nn.Sequential(conv_norm_act(2 * c, 4 * c, kernel=4, stride=2, padding=1), ResBlock(4 * c), ResBlock(4 * c))
        self.fuse = conv_norm_act(6 * c, 2 * c, kernel=3)
        self.to_flow = nn.Conv2d(2 * c, 2, 3, 1, 1)
        nn.init.zeros_(self.to_flow.weight)
        nn.init.zeros_(self.to_flow.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` [B, c_in, h, w] at the working size; returns the flow [B, 2, h/4, w/4] (dx, dy)."""
        quarter = self.down2(self.down1(x))
        deep = F.interpolate(self.down3(quarter), size=quarter.shape[-2:], mode="bilinear", align_corners=False)
        return self.to_flow(self.fuse(torch.cat([quarter, deep], dim=1)))


class GMM(nn.Module):
    """Regress TPS control-point offsets from person/cloth correlation; see the module docstring."""

    def __init__(self, cfg: GMMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ngf, g = cfg.ngf, cfg.grid_size
        fh, fw = cfg.work_size[0] // _FEATURE_STRIDE, cfg.work_size[1] // _FEATURE_STRIDE
        self.person_features = feature_extractor(cfg.person_channels, ngf)
        self.cloth_features = feature_extractor(cfg.cloth_channels, ngf)
        # No normalisation in the regressor: at 4x3 positions GroupNorm would reduce each channel to
        # little more than a sign pattern and the offsets would stop depending on the input.
        self.regressor = nn.Sequential(
            conv_norm_act(fh * fw, 8 * ngf, kernel=4, stride=2, padding=1, normalise=False),
            conv_norm_act(8 * ngf, 4 * ngf, kernel=4, stride=2, padding=1, normalise=False),
            conv_norm_act(4 * ngf, 2 * ngf, kernel=3, normalise=False),
            conv_norm_act(2 * ngf, ngf, kernel=3, normalise=False),
            nn.Flatten(),
        )
        flat = ngf * (fh // _REGRESSOR_STRIDE) * (fw // _REGRESSOR_STRIDE)
        self.to_offsets = nn.Linear(flat, 2 * g * g)
        # Start near the identity warp, but not exactly at it, so gradients reach every layer from step one.
        nn.init.normal_(self.to_offsets.weight, std=1e-3)
        nn.init.zeros_(self.to_offsets.bias)
        self.tps = TPSGridGen(g, cfg.work_size)
        self.refiner = FlowRefiner(cfg.person_channels + cfg.cloth_channels, cfg.flow_channels) if cfg.flow_refine else None
        self.anchor = PoseAnchor(cfg.work_size) if cfg.pose_anchor else None

    def forward(self, person: Tensor, cloth: Tensor, return_flow: bool = False) -> tuple[Tensor, ...]:
        """Return ``grid`` [B, H, W, 2] (in [-1, 1], align_corners=True, for :func:`warp` at the input size)
        and ``theta`` [B, 2*G*G]: offsets of the lattice points, laid out as ``theta.view(B, G*G, 2)``
        with (dx, dy) per point, points row-major. ``return_flow`` adds the refiner's flow
        [B, 2, h/4, w/4] at the working size (None without ``flow_refine``), for its smoothness loss."""
        b, _, h, w = cloth.shape
        # Area averaging keeps thin pose peaks and mask edges when shrinking 4x (bilinear would alias).
        # ONNX export needs the input size to be an integer multiple of work_size for it.
        p = F.interpolate(person, size=self.cfg.work_size, mode="area")
        c = F.interpolate(cloth, size=self.cfg.work_size, mode="area")
        anchor = None
        if self.anchor is not None:
            k = self.cfg.pose_channel
            anchor = self.anchor(p[:, k:k + NUM_POSE_CHANNELS], c[:, -1:])
            c = warp(c, self.anchor.grid(*anchor))  # the spline and the refiner now correct the anchored cloth
        corr = correlation(l2_normalise(self.person_features(p)), l2_normalise(self.cloth_features(c)))
        corr = l2_normalise(F.relu(corr))
        theta = torch.tanh(self.to_offsets(self.regressor(corr)))
        grid = self.tps(theta.reshape(b, -1, 2))  # [B, h0, w0, 2] at the working size
        flow = None
        if self.refiner is not None:
            flow = self.refiner(torch.cat([p, warp(c, grid)], dim=1))
            dense = F.interpolate(flow, size=self.cfg.work_size, mode="bilinear", align_corners=False)
            grid = grid + dense.permute(0, 2, 3, 1)
        if anchor is not None:
            grid = compose(grid, *anchor)  # sample the original cloth once, at its full resolution
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=(h, w), mode="bilinear", align_corners=True)
        grid = grid.permute(0, 2, 3, 1)
        return (grid, theta, flow) if return_flow else (grid, theta)


def warp(image: Tensor, grid: Tensor, padding_mode: str = "border") -> Tensor:
    """Sample ``image`` [B, C, H, W] at ``grid`` [B, H', W', 2] (bilinear, ``align_corners=True``).

    ``padding_mode="border"`` (the default, as CP-VTON) repeats the edge pixels where the grid
    leaves the image, which suits cloth photos on a plain background; use ``"zeros"`` for masks
    when the outside must count as empty (a cloth mask's border is background anyway, so
    ``"border"`` is fine for masks too).
    """
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
