"""A pose-anchored starting warp for the GMM: scale and shift the in-shop cloth onto the person's shoulders.

The correlation + TPS regressor of CP-VTON starts from the identity warp, so it has to learn the
whole change of scale between a flat product photo and a body from the loss alone. On the demo shop
it did not: the in-shop garment fills its picture while the worn one spans about 1.75 times less,
and after 300 steps the spline still squashed the print vertically (dots into ellipses, the
neckline at the chin). Where the person's neck and shoulders are known (the pose heatmaps are part
of the person input), the scale and the position are nearly determined by them: the cloth's width
goes with the shoulder width and its collar with the neck.

:class:`PoseAnchor` measures both from the inputs (no learning in the measurement) and returns the
similarity transform (one scale, one shift; no rotation, no shear) that maps person coordinates to
cloth coordinates. Two global constants are learned with the GMM: how many shoulder widths the
cloth's width spans on the body, and how far above the neck joint its top sits. The GMM then runs
on the cloth pre-warped by this transform and its spline only corrects the rest.

Where a joint is not seen (its heatmap is empty) or the cloth mask is empty, the transform is the
identity, so the GMM falls back to its usual start. Measurements are weighted means and maxima,
which export to ONNX and need no gradient.
"""

from __future__ import annotations

import math

import torch
from kornia.geometry import create_meshgrid
from torch import Tensor, nn

# BODY_25 channels (pipeline.train.pose_maps): the neck and both shoulders.
NECK, R_SHOULDER, L_SHOULDER = 1, 2, 5
# A heatmap whose peak is below this counts as an unseen joint (peaks are 1; area-shrinking a
# sigma-3 px Gaussian 4x keeps about 0.6 of it).
_SEEN = 0.2
# Bounds of the scale (cloth units per person unit): a pose glitch must not zoom the cloth 50x.
_SCALE_RANGE = (0.25, 4.0)
# A uniform band of width w has standard deviation w / sqrt(12).
_STD_TO_WIDTH = math.sqrt(12.0)


def heatmap_peaks(maps: Tensor) -> tuple[Tensor, Tensor]:
    """``maps`` [B, J, H, W] -> (points [B, J, 2] (x, y) in [-1, 1], align_corners=True; seen [B, J] bool).

    The point is the centroid of the part of each heatmap above half its peak, which is the
    Gaussian's centre to a fraction of a pixel and, unlike an argmax, the same on any resize.
    """
    b, j, h, w = maps.shape
    peak = maps.amax(dim=(2, 3), keepdim=True)
    weight = torch.relu(maps - 0.5 * peak)
    total = weight.sum(dim=(2, 3)).clamp_min(1e-8)
    coords = create_meshgrid(h, w, normalized_coordinates=True, align_corners=True).to(maps)  # [1, H, W, 2]
    xs = (weight * coords[..., 0].unsqueeze(1)).sum(dim=(2, 3)) / total
    ys = (weight * coords[..., 1].unsqueeze(1)).sum(dim=(2, 3)) / total
    return torch.stack([xs, ys], dim=-1), peak.reshape(b, j) > _SEEN


def mask_extent(mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``mask`` [B, 1, H, W] -> (centre x, top y, width, present) in grid units, each [B].

    The width comes from the standard deviation of the mask's columns (a uniform band's width is
    sqrt(12) of it), so a stray pixel far out moves it little; the top is the first row that holds
    a tenth of the widest row's mask, so a hanger loop or a stray pixel above the collar does not
    count.
    """
    b, _, h, w = mask.shape
    m = mask[:, 0].clamp(0, 1)
    coords = create_meshgrid(h, w, normalized_coordinates=True, align_corners=True).to(mask)[0]  # [H, W, 2]
    total = m.sum(dim=(1, 2))
    present = total > 1.0
    total = total.clamp_min(1e-8)
    cx = (m * coords[..., 0]).sum(dim=(1, 2)) / total
    var_x = (m * (coords[..., 0] - cx.view(b, 1, 1)) ** 2).sum(dim=(1, 2)) / total
    width = _STD_TO_WIDTH * var_x.clamp_min(0).sqrt()
    rows = m.sum(dim=2)  # [B, H]
    filled = (rows >= 0.1 * rows.amax(dim=1, keepdim=True).clamp_min(1e-8)).float()
    # First filled row: the largest of filled * (H - index) sits at the smallest index.
    index = torch.arange(h, device=mask.device, dtype=mask.dtype)
    first = torch.argmax(filled * (h - index), dim=1).to(mask.dtype)
    top = first / max(h - 1, 1) * 2 - 1
    return cx, top, width, present


class PoseAnchor(nn.Module):
    """Similarity transform person -> cloth from the neck, the shoulders and the cloth mask; see the module docstring.

    ``width_init``: shoulder-joint widths spanned by the cloth's width on the body (learned, through
    its log); ``top_init``: shoulder widths from the neck joint up to the cloth's top (learned).
    """

    def __init__(self, size: tuple[int, int], width_init: float = 1.6, top_init: float = 0.25) -> None:
        super().__init__()
        if width_init <= 0:
            raise ValueError(f"width_init must be positive, got {width_init}")
        self.log_width = nn.Parameter(torch.tensor(math.log(width_init)))
        self.top = nn.Parameter(torch.tensor(float(top_init)))
        h, w = size
        self.register_buffer("identity", create_meshgrid(h, w, normalized_coordinates=True, align_corners=True), persistent=False)

    def forward(self, pose: Tensor, cloth_mask: Tensor) -> tuple[Tensor, Tensor]:
        """``pose`` [B, 25, H, W] BODY_25 heatmaps, ``cloth_mask`` [B, 1, H, W], both at one size.

        Returns (scale [B], shift [B, 2]): a person point p samples the cloth at ``scale * p + shift``
        (grid units); scale 1 and shift 0 where the anchor cannot be measured.
        """
        _, h, w = pose.shape[1:]
        with torch.no_grad():
            points, seen = heatmap_peaks(pose[:, [NECK, R_SHOULDER, L_SHOULDER]])
            cx, top, cloth_width, present = mask_extent(cloth_mask)
            # Shoulder width in pixels, then back to x grid units, so the aspect ratio of the frame
            # does not count twice; the scale is uniform in pixels.
            half = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=pose.device, dtype=pose.dtype)
            shoulders = ((points[:, 1] - points[:, 2]) * half).norm(dim=-1) / half[0]
            neck = points[:, 0]
            ok = seen.all(dim=1) & present & (shoulders > 1e-3) & (cloth_width > 1e-3)
        person_width = torch.exp(self.log_width) * shoulders.clamp_min(1e-3)
        scale = (cloth_width / person_width).clamp(*_SCALE_RANGE)
        # The person's garment top, in y grid units: the neck joint less `top` shoulder widths (in pixels).
        person_top = neck[:, 1] - self.top * shoulders * half[0] / half[1]
        # scale * p + shift must send the neck's x to the cloth's centre and the garment top to the cloth's top;
        # y grid units hold fewer pixels than x ones when W < H, but the scale is the same in both.
        shift = torch.stack([cx - scale * neck[:, 0], top - scale * person_top], dim=-1)
        one = torch.ones_like(scale)
        scale = torch.where(ok, scale, one)
        shift = torch.where(ok.unsqueeze(-1), shift, torch.zeros_like(shift))
        return scale, shift

    def grid(self, scale: Tensor, shift: Tensor) -> Tensor:
        """The transform's sampling grid [B, H, W, 2] at the anchor's size (for pre-warping the cloth)."""
        return compose(self.identity, scale, shift)


def compose(grid: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """Sampling grid of "sample at ``grid``, then at the similarity": where a grid over the pre-warped cloth lands in the cloth."""
    return grid * scale.view(-1, 1, 1, 1) + shift.view(-1, 1, 1, 2)
