"""A guess of what lies under the agnostic's grey area, from the pixels around it.

The agnostic image hides torso, arms and a margin of background under one flat grey. Wherever
the new garment does not reach, the try-on must paint what was there: mostly the studio
backdrop between and beside the arms. Without a hint the generator paints a mean background,
which shows as a pale or dark halo round the body. Filling the grey area smoothly from its
border (backdrop at the sides, skin at the neck, the lower garment at the waist) gives it that
hint without revealing the old garment's outline, which lies inside the hidden area.

The fill is push-pull interpolation (a masked image pyramid): average the known pixels down
until every cell has one, then blend back up, keeping known pixels exact at every level.
OpenCV's ``inpaint`` does a similar job per NumPy image and is slow at 1024 px; this works on
batched tensors on any device, inside the model, so training, ``evaluate``, the engine and the
ONNX graph share one definition.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

# VITON-HD paints the agnostic area with RGB 128; JPEG moves it by a few levels, real clothing
# rarely sits this close on all three channels.
AGNOSTIC_GREY = 128
GREY_TOLERANCE = 6


def hidden_area(agnostic: Tensor) -> Tensor:
    """``[B, 1, H, W]`` (or ``[1, H, W]`` for one image) {0, 1}: where ``agnostic`` in [-1, 1] is the grey it paints."""
    grey = AGNOSTIC_GREY / 127.5 - 1.0
    channel_dim = agnostic.dim() - 3
    near = ((agnostic - grey).abs() <= GREY_TOLERANCE / 127.5).all(dim=channel_dim, keepdim=True)
    return near.to(agnostic.dtype)


def fill_hidden(image: Tensor, hidden: Tensor, max_levels: int = 16) -> Tensor:
    """``image`` [B, C, H, W] with the pixels where ``hidden`` [B, 1, H, W] is 1 filled from the rest.

    Known pixels come back unchanged. An image with nothing known is returned as it is.
    """
    known = 1.0 - hidden.to(image.dtype)
    levels: list[tuple[Tensor, Tensor]] = [(image * known, known)]
    # Down: each cell is the mean of the known pixels under it (sums carried, so the weights stay exact).
    while len(levels) < max_levels:
        total, weight = levels[-1]
        if min(total.shape[-2:]) <= 1 or bool((weight > 0).all()):
            break
        levels.append((F.avg_pool2d(total, 2, ceil_mode=True), F.avg_pool2d(weight, 2, ceil_mode=True)))
    total, weight = levels[-1]
    filled = total / weight.clamp_min(1e-6)
    # Up: keep each level's own estimate where it has known pixels, the coarser one where it has none.
    for total, weight in reversed(levels[:-1]):
        coarse = F.interpolate(filled, size=total.shape[-2:], mode="bilinear", align_corners=False)
        own = total / weight.clamp_min(1e-6)
        have = weight.clamp(0, 1)
        filled = have * own + (1 - have) * coarse
    return filled
