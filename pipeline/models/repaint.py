"""Keep what must not change: compose the generator's output into the person photo inside the try-on region only.

The agnostic representation already says which pixels the new garment may touch (the grey
area: torso, arms, neck). Everywhere else (face, hair, hands, lower body, background) the
right answer is the photo itself, so the try-on image takes those pixels from the photo and
the generator's only inside the region, blended over a narrow seam just outside it. Diffusion
try-ons call this "repaint"; here it is the same rule at training time (the losses see the
composed image, so the generator learns the region alone) and at inference, where the photo
keeps its full resolution and only the generated region is upsampled.

Seam sizes are fractions of the image height, so a 256-pixel training image and a 1024-pixel
photo get the same blend relative to the body.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# The region grows by this share of the height before the blend, and the blend ramps over about
# as much again: the grey area's edge is drawn from the pose, so the garment's true outline may
# lie a pixel or two outside it.
GROW = 0.006
FEATHER = 0.006


def _odd(n: float) -> int:
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


def soft_region(region: Tensor, grow: float = GROW, feather: float = FEATHER) -> Tensor:
    """Blend weight ``[B, 1, H, W]`` in [0, 1]: exactly 1 inside ``region`` ({0, 1}), falling to 0 just outside.

    Dilation is a max-pool and the ramp a separable Gaussian; kornia would do the same with more
    overhead for this single fixed kernel.
    """
    region = region.float()
    h = region.shape[-2]
    k = _odd(2 * grow * h + 1)
    grown = F.max_pool2d(region, k, stride=1, padding=k // 2) if k > 1 else region
    sigma = max(feather * h / 2, 1e-3)
    radius = max(1, math.ceil(2.5 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=region.dtype, device=region.device)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    padded = F.pad(grown, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(F.conv2d(padded, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    return torch.maximum(region, blurred).clamp(0, 1)


def blend(person: Tensor, generated: Tensor, alpha: Tensor) -> Tensor:
    """``generated`` where the weight ``alpha`` (from :func:`soft_region`) is 1, ``person`` where it is 0."""
    alpha = alpha.to(generated.dtype)
    return person * (1 - alpha) + generated * alpha


def repaint(person: Tensor, generated: Tensor, region: Tensor, grow: float = GROW, feather: float = FEATHER) -> Tensor:
    """``generated`` inside the (softened) ``region``, ``person`` everywhere else; all ``[B, C, H, W]``."""
    return blend(person, generated, soft_region(region, grow, feather))


# The region reaches this share of the height beyond the person's parsed silhouette: a new garment
# may be looser than the old one, but the grey area's far corners are background that no garment
# reaches, and regenerating them only loses the photo's pixels.
SILHOUETTE_MARGIN = 0.02


def tryon_region(agnostic_mask: Tensor, person: Tensor, margin: float = SILHOUETTE_MARGIN) -> Tensor:
    """Where the try-on may draw ``[B, 1, H, W]``: the agnostic's grey area within ``margin`` of the person.

    ``person`` [B, 1, H, W] is the parse's foreground (any label but background). The model's input
    still hides the whole grey area; only the composition is restricted, so the old garment's
    outline is not given away beyond what the margin already shows.
    """
    h = person.shape[-2]
    k = _odd(2 * margin * h + 1)
    near = F.max_pool2d(person.float(), k, stride=1, padding=k // 2) if k > 1 else person.float()
    return agnostic_mask.float() * near
