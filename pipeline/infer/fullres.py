"""Try-on at the photo's own resolution from models that ran at a smaller size.

The GMM's warp is a sampling grid in normalised coordinates, and a grid does not care about
resolution (as in PF-AFN and HR-VITON's test-time upsampling): upsampled to the output frame, it
samples the garment picture at full size, so a print or a logo keeps the pixels the shop photographed.
The TOM's rendering (skin, backdrop, folds and shading) stays a low-resolution image, upsampled.

Two ways to join them, chosen by :class:`Detail`:

* ``detail`` (the default): the upsampled try-on plus the detail the low-resolution warp lost,
  scaled by the shading the TOM drew: ``out = up(out) + w * s * (warped_full - up(warped_low))``
  with ``w`` the upsampled composition mask inside the full-size warped mask and ``s`` the ratio
  of the try-on's brightness to the warped garment's (both at the model's size, upsampled). Where
  the TOM pasted unchanged (``s = 1``) this is exactly the full-resolution garment; where it
  darkened it (a fold, a shadow) the shadow stays and the texture inside it is dimmed with it.
  Shading multiplies, so the detail is scaled rather than added as is, which would print
  full-contrast texture into a shadow and clip its dark half.
* ``paste``: the full-resolution warped garment pasted with weight ``w`` over the upsampled try-on,
  which discards whatever the TOM drew over the garment where it pasted.

Everything works in one "frame": the photo letterboxed to the model's aspect at the photo's own
scale, the same geometry the annotation used, so the engine's crop-and-resize maps it back.
"""

from __future__ import annotations

import math
from enum import Enum

import cv2
import numpy as np
import torch
import torch.nn.functional as F


class Detail(str, Enum):
    """How the full-resolution garment joins the upsampled try-on (see the module docstring)."""

    DETAIL = "detail"
    PASTE = "paste"


def frame_size(photo_wh: tuple[int, int], model_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the model-aspect frame that holds a ``photo_wh`` picture at scale 1."""
    w, h = photo_wh
    mh, mw = model_hw
    fh = max(h, math.ceil(w * mh / mw))
    return fh, max(1, round(fh * mw / mh))


def source_maps(grid: torch.Tensor, size_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates in the full-size garment picture that each pixel of a ``size_hw`` frame samples,
    from the GMM's grid ``[2, h, w]`` at the model's size (x, y in [-1, 1], ``align_corners=True``).

    Both the grid's positions and its values are carried to full size with the half-pixel geometry
    that ``cv2.resize`` gives the rest of the try-on (the photo shrunk into the model, the rendering
    upsampled back): full pixel ``X`` is model position ``(X + 0.5) * w / W - 0.5``. The
    ``align_corners=True`` scaling of either would stretch the garment against the rendering by up to
    1.5 pixels at a 4x upsampling, enough to blur its seams with the TOM's shading.
    """
    h, w = grid.shape[-2:]
    fh, fw = size_hw
    up = F.interpolate(grid[None].float(), size=size_hw, mode="bilinear", align_corners=False)[0].numpy()
    model_x = (up[0] + 1.0) * (0.5 * (w - 1))
    model_y = (up[1] + 1.0) * (0.5 * (h - 1))
    map_x = (model_x + 0.5) * (fw / w) - 0.5
    map_y = (model_y + 0.5) * (fh / h) - 0.5
    return np.ascontiguousarray(map_x, dtype=np.float32), np.ascontiguousarray(map_y, dtype=np.float32)


def sample(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``image`` (HxW or HxWxC) sampled at ``maps`` (:func:`source_maps`), the border repeated as the GMM's
    ``warp`` does; cv2.remap is several times faster than grid_sample on CPU."""
    return cv2.remap(image, maps[0], maps[1], interpolation, borderMode=cv2.BORDER_REPLICATE)


def warp_garment(cloth: np.ndarray, garment_mask: np.ndarray, grid: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The garment picture already letterboxed into the frame (HxWx3 uint8, on white, as the model's input
    was) and its mask (0/255, the same letterbox at any size) warped by ``grid`` [2, h, w] at the frame's
    size: (HxWx3 float32 in [0, 255], HxW float32 in [0, 1])."""
    fh, fw = cloth.shape[:2]
    mask = cv2.resize(garment_mask, (fw, fh), interpolation=cv2.INTER_LINEAR) if garment_mask.shape[:2] != (fh, fw) else garment_mask
    maps = source_maps(grid, (fh, fw))
    warped = sample(cloth, maps).astype(np.float32)
    warped_mask = sample(mask, maps).astype(np.float32) / 255.0
    return warped, warped_mask


# Keeps the shading ratio finite on black garments (on a 0-255 scale; about 3 % of the range).
SHADE_EPS = 8.0
SHADE_MAX = 4.0  # a highlight brighter than this many times the garment is the rendering's, not a shading


def garment_weight(comp: np.ndarray, warped_mask_full: np.ndarray) -> np.ndarray:
    """Where the garment shows in the try-on, at the frame's size in [0, 1]: the TOM's composition mask
    (``comp``, hxw) upsampled and cut to the full-size warped garment's own outline."""
    fh, fw = warped_mask_full.shape[:2]
    weight = cv2.resize(comp.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    np.clip(weight, 0.0, 1.0, out=weight)
    return cv2.multiply(weight, warped_mask_full.astype(np.float32))


def compose(output: np.ndarray, warped_low: np.ndarray, comp: np.ndarray, warped_full: np.ndarray,
            warped_mask_full: np.ndarray, detail: Detail = Detail.DETAIL) -> np.ndarray:
    """The try-on at the frame's size: ``output`` and ``warped_low`` (hxwx3, [0, 255]) and ``comp`` (hxw, [0, 1])
    from the models, ``warped_full`` / ``warped_mask_full`` from :func:`warp_garment`; returns HxWx3 uint8."""
    fh, fw = warped_full.shape[:2]
    # cv2 rather than numpy for the per-pixel arithmetic: a 768x1024 frame takes a few
    # milliseconds per operation instead of tens (numpy's reductions over the channel axis are slow).
    up = cv2.resize(output.astype(np.float32), (fw, fh), interpolation=cv2.INTER_CUBIC)
    weight = garment_weight(comp, warped_mask_full)
    if detail is Detail.PASTE:
        change = cv2.subtract(warped_full, up)
    else:
        low_up = cv2.resize(warped_low.astype(np.float32), (fw, fh), interpolation=cv2.INTER_CUBIC)
        shade = cv2.divide(cv2.cvtColor(up, cv2.COLOR_RGB2GRAY) + SHADE_EPS, cv2.cvtColor(low_up, cv2.COLOR_RGB2GRAY) + SHADE_EPS)
        np.clip(shade, 0.0, SHADE_MAX, out=shade)
        weight = cv2.multiply(weight, shade)
        change = cv2.subtract(warped_full, low_up)
    out = cv2.add(up, cv2.multiply(change, cv2.merge([weight, weight, weight])))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> HxWxC uint8 (in numpy: torch's thread pool costs more than the work on a busy CPU)."""
    return np.clip((x.detach().float().cpu().numpy().transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def upsampled_tryon(output: torch.Tensor, warped_low: torch.Tensor, comp: torch.Tensor, grid: torch.Tensor,
                    cloth: torch.Tensor, cloth_mask: torch.Tensor,
                    detail: Detail = Detail.DETAIL) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`compose` for a batch of tensors, as the evaluate stage holds them: model outputs at the model's
    size (``output``, ``warped_low`` [B, 3, h, w] in [-1, 1], ``comp`` [B, 1, h, w], ``grid`` [B, 2, h, w])
    and the garment at the scoring size (``cloth`` [B, 3, H, W] in [-1, 1], ``cloth_mask`` [B, 1, H, W]).
    Returns the try-on, the warped cloth (both in [-1, 1]) and the warped mask ({0, 1}) at H x W."""
    images, warps, masks = [], [], []
    for k in range(output.shape[0]):
        mask = (cloth_mask[k, 0].detach().cpu().numpy() * 255 + 0.5).astype(np.uint8)
        warped, wmask = warp_garment(to_uint8(cloth[k]), mask, grid[k].cpu())
        out = compose(to_uint8(output[k]), to_uint8(warped_low[k]), comp[k, 0].detach().cpu().numpy(), warped, wmask, detail)
        images.append(torch.from_numpy(out.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        warps.append(torch.from_numpy(warped / 127.5 - 1.0).permute(2, 0, 1))
        masks.append(torch.from_numpy((wmask > 0.5).astype(np.float32))[None])
    return torch.stack(images), torch.stack(warps), torch.stack(masks)
