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


# The fill is computed on this grid (height, width), whatever the picture's size, then resized back:
# every shape inside is a constant, so the graph exports (torch.export with dynamic sizes, ONNX)
# without size guards. It is the training size, where the resize is the identity; a larger photo
# gets a backdrop guess of this resolution, which is all a guess of a smooth backdrop needs.
GRID = (256, 192)


def _halve(x: Tensor) -> Tensor:
    """2x2 mean, an odd side first padded by one zero row or column (weights are zero there too)."""
    return F.avg_pool2d(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)), 2)


def fill_hidden(image: Tensor, hidden: Tensor, grid: tuple[int, int] = GRID) -> Tensor:
    """``image`` [B, C, H, W] with the pixels where ``hidden`` [B, 1, H, W] is 1 filled from the rest.

    Known pixels come back unchanged; an image with nothing known comes back all zeros.
    """
    known = 1.0 - hidden.to(image.dtype)
    size = image.shape[-2:]
    total = F.interpolate(image * known, size=grid, mode="bilinear", align_corners=False)
    weight = F.interpolate(known, size=grid, mode="bilinear", align_corners=False)
    pyramid: list[tuple[Tensor, Tensor]] = [(total, weight)]
    # Down to one cell: each is the mean of the known pixels under it (sums carried, so weights stay exact).
    while max(pyramid[-1][0].shape[-2:]) > 1:
        total, weight = pyramid[-1]
        pyramid.append((_halve(total), _halve(weight)))
    total, weight = pyramid[-1]
    filled = total / weight.clamp_min(1e-6)
    # Up: keep each level's own estimate where it has known pixels, the coarser one where it has none.
    for total, weight in reversed(pyramid[:-1]):
        coarse = F.interpolate(filled, size=total.shape[-2:], mode="bilinear", align_corners=False)
        have = weight.clamp(0, 1)
        filled = have * (total / weight.clamp_min(1e-6)) + (1 - have) * coarse
    guess = F.interpolate(filled, size=size, mode="bilinear", align_corners=False)
    return known * image + (1 - known) * guess
