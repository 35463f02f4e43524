"""Training losses of the geometric matching (GMM) and try-on (TOM) modules.

Every loss returns a dict of its unweighted terms plus ``total`` (the weighted sum), so the
training loop can log each term. Terms whose weight is 0 are not computed (reported as 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pipeline.config_mapping import from_mapping
from pipeline.models.discriminator import GanLoss, feature_matching_loss, generator_adversarial_loss
from pipeline.models.tom import TOMOutput
from pipeline.models.vgg import VGGFeatures

# CP-VTON's per-layer perceptual weights for the four VGG taps, shallowest first: shallow layers
# have larger activations per unit of visual difference, so they count less.
PERCEPTUAL_LAYER_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4)


@dataclass
class GMMLossWeights:
    """``l1``: warped cloth vs the worn cloth; ``mask``: warped cloth mask vs the worn region;
    ``smooth``: second-order smoothness of the TPS control points (CP-VTON+ grid constraint);
    ``flow_smooth``: total variation of the dense flow of ``model.flow_refine``."""

    l1: float = 1.0
    mask: float = 1.0
    smooth: float = 1.0
    flow_smooth: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GMMLossWeights:
        """Build from a params block; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "GMM loss weight")


@dataclass
class TOMLossWeights:
    """Weights of the TOM loss terms (the defaults are the reference recipe's).

    ``mask`` is CP-VTON's L1 between the composition mask and the warped cloth mask, which keeps
    the generator from ignoring the warped cloth; it needs ``warped_mask`` at call time.
    ``ssim`` (1 - SSIM) and ``feature_matching`` (pix2pixHD's discriminator-feature L1) need no
    pretrained network, so they stand in for the VGG terms where its weights are missing.
    ``shape`` is the binary cross-entropy of the predicted garment mask against the worn garment
    (a TOM built with ``garment_shape``); it needs ``worn_mask`` at call time.
    """

    l1: float = 1.0
    perceptual: float = 1.0
    style: float = 100.0
    adversarial: float = 0.01
    mask: float = 1.0
    ssim: float = 0.0
    feature_matching: float = 0.0
    shape: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TOMLossWeights:
        """Build from a params block; unknown keys raise ``ValueError``."""
        return from_mapping(cls, data, "TOM loss weight")


def grid_smoothness(theta: Tensor, grid_size: int) -> Tensor:
    """Mean absolute second difference of the control points along rows and columns.

    The lattice itself is linear, so only the offsets matter; any affine warp costs nothing,
    while folds and local kinks do.
    """
    off = theta.reshape(theta.shape[0], grid_size, grid_size, 2)
    d_x = off[:, :, 2:] - 2 * off[:, :, 1:-1] + off[:, :, :-2]
    d_y = off[:, 2:] - 2 * off[:, 1:-1] + off[:, :-2]
    return d_x.abs().mean() + d_y.abs().mean()


def flow_variation(flow: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring cells of a flow [B, 2, h, w] in grid units, in
    pixels of the flow's own resolution (so the weight does not depend on the working size)."""
    h, w = flow.shape[-2:]
    scale = flow.new_tensor([(w - 1) / 2, (h - 1) / 2]).view(1, 2, 1, 1)
    px = flow * scale
    # |d dx| + |d dy| per pair of neighbours, averaged over the pairs along each axis
    return (px[..., :, 1:] - px[..., :, :-1]).abs().sum(1).mean() + (px[..., 1:, :] - px[..., :-1, :]).abs().sum(1).mean()


def gmm_loss(
    warped_cloth: Tensor,
    person: Tensor,
    worn_mask: Tensor,
    theta: Tensor,
    grid_size: int,
    warped_mask: Tensor | None = None,
    weights: GMMLossWeights | None = None,
    flow: Tensor | None = None,
) -> dict[str, Tensor]:
    """GMM loss terms.

    ``warped_cloth`` and ``person`` [B, 3, H, W] in [-1, 1]; ``worn_mask`` [B, 1, H, W] in {0, 1}:
    where the person wears the garment (from the parse map). ``l1`` compares the two images inside
    that region only (outside it the person shows skin or background, nothing to match);
    ``mask`` (needs ``warped_mask``) then stops the warped garment from spilling outside it.
    ``flow_smooth`` needs the refiner's ``flow`` (``GMM(..., return_flow=True)``).
    """
    w = weights or GMMLossWeights()
    if w.flow_smooth and flow is None:
        raise ValueError("train_gmm.loss_weights.flow_smooth needs train_gmm.model.flow_refine: true (there is no flow to smooth)")
    zero = warped_cloth.new_zeros(())
    terms = {
        "l1": ((warped_cloth - person) * worn_mask).abs().mean() if w.l1 else zero,
        "mask": (warped_mask - worn_mask).abs().mean() if w.mask and warped_mask is not None else zero,
        "smooth": grid_smoothness(theta, grid_size) if w.smooth else zero,
    }
    terms["total"] = w.l1 * terms["l1"] + w.mask * terms["mask"] + w.smooth * terms["smooth"]
    if flow is not None:  # only a GMM with the refiner logs the term (the spline-only history keeps its columns)
        terms["flow_smooth"] = flow_variation(flow.float()) if w.flow_smooth else zero
        terms["total"] = terms["total"] + w.flow_smooth * terms["flow_smooth"]
    return terms


def _masked_mean(values: Tensor, weight: Tensor) -> Tensor:
    """Mean of ``values`` [B, C, H, W] weighted by ``weight`` [B, 1, H, W] (per channel)."""
    weight = weight.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def _ssim(pred: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    """Differentiable SSIM of images in [-1, 1], averaged over ``weight`` when given."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    p, t = (pred.float() + 1) / 2, (target.float() + 1) / 2
    if weight is None:
        return structural_similarity_index_measure(p, t, data_range=1.0)
    _, full = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none", return_full_image=True)
    return _masked_mean(full, weight.float())


def gram(features: Tensor) -> Tensor:
    """Channel Gram matrix normalised by the feature map size."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


# What the TOM's composition mask is pulled towards. ``warped``: CP-VTON's warped cloth mask, so
# the warped texture is pasted wherever the GMM put it. ``warped_worn``: only where the warped
# cloth also lies on the garment in the photo, so where the warp missed (a sleeve over the
# backdrop, a hem below the waist) the generator learns to paint instead of pasting misplaced
# texture. The worn mask is needed only for training; at inference the mask is predicted.
MASK_TARGETS = ("warped", "warped_worn")


class TOMLoss(nn.Module):
    """L1 + SSIM + VGG perceptual + style (Gram) + composition-mask + adversarial + feature-matching terms for the TOM.

    The VGG is built from ``vgg_weights`` (None: the packaged VGG16) when the perceptual or
    style weight is non-zero and no ``vgg`` module is passed; missing weights raise
    :class:`~pipeline.models.vgg.MissingWeightsError`. ``vgg_size`` (H, W) resizes images before
    the VGG to bound its cost at high resolution (None: full size).
    """

    def __init__(
        self,
        weights: TOMLossWeights | None = None,
        vgg: VGGFeatures | None = None,
        vgg_weights: str | Path | None = None,
        vgg_size: tuple[int, int] | None = None,
        gan_loss: GanLoss = "hinge",
        mask_target: str = "warped",
    ) -> None:
        super().__init__()
        if mask_target not in MASK_TARGETS:
            raise ValueError(f"mask_target must be one of {MASK_TARGETS}, got {mask_target!r}")
        self.mask_target = mask_target
        self.weights = weights or TOMLossWeights()
        needs_vgg = bool(self.weights.perceptual or self.weights.style)
        self.vgg = (vgg or VGGFeatures(vgg_weights)) if needs_vgg else None
        self.vgg_size = tuple(vgg_size) if vgg_size else None
        self.gan_loss = gan_loss

    def forward(
        self,
        out: TOMOutput,
        target: Tensor,
        warped_mask: Tensor | None = None,
        fake_logits: Tensor | list[Tensor] | None = None,
        region: Tensor | None = None,
        fake_features: list[list[Tensor]] | None = None,
        real_features: list[list[Tensor]] | None = None,
        worn_mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Terms for generator output ``out`` vs ``target`` [B, 3, H, W] in [-1, 1].

        ``fake_logits``: the discriminator's logits on ``out.output`` (not detached; a list per
        scale); without them the adversarial term is 0. ``warped_mask`` enables the
        composition-mask term. ``region`` [B, 1, H, W] in [0, 1] is where the output may differ
        from the photo (see :mod:`pipeline.models.repaint`): L1, SSIM and the mask term are then
        averaged over it, so their size does not shrink with the garment's share of the picture.
        ``fake_features``/``real_features`` (multi-scale discriminator activations) enable feature matching.
        ``worn_mask`` [B, 1, H, W] (the garment in the photo) is required by ``mask_target="warped_worn"``.
        """
        w = self.weights
        zero = target.new_zeros(())
        terms = dict.fromkeys(("l1", "perceptual", "style", "mask", "adversarial", "ssim", "feature_matching", "shape"), zero)
        weight = None if region is None else region.float()
        if w.l1:
            terms["l1"] = F.l1_loss(out.output, target) if weight is None else _masked_mean((out.output - target).abs(), weight)
        if w.ssim:
            terms["ssim"] = 1 - _ssim(out.output, target, weight)
        if self.vgg is not None:
            terms["perceptual"], terms["style"] = self._vgg_terms(out.output, target)
        if w.mask and warped_mask is not None:
            goal = warped_mask
            if self.mask_target == "warped_worn":
                if worn_mask is None:
                    raise ValueError("mask_target warped_worn needs the worn_mask")
                # With a paste margin the (extended) paste is right wherever it lies on the garment.
                reach = warped_mask if out.paste_area is None else out.paste_area
                goal = reach * worn_mask
            err = (out.comp_mask - goal).abs()
            terms["mask"] = err.mean() if weight is None else _masked_mean(err, weight)
        if w.shape:
            if out.garment is None or worn_mask is None:
                raise ValueError("loss_weights.shape needs a TOM built with model.garment_shape: true, and the worn_mask")
            err = F.binary_cross_entropy(out.garment.float().clamp(1e-6, 1 - 1e-6), worn_mask.float(), reduction="none")
            terms["shape"] = err.mean() if weight is None else _masked_mean(err, weight)
        if w.adversarial and fake_logits is not None:
            terms["adversarial"] = generator_adversarial_loss(fake_logits, self.gan_loss)
        if w.feature_matching and fake_features is not None and real_features is not None:
            terms["feature_matching"] = feature_matching_loss(fake_features, real_features)
        terms["total"] = sum(getattr(w, k) * v for k, v in terms.items())
        return terms

    def _vgg_terms(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        assert self.vgg is not None
        if self.vgg_size is not None:
            output = F.interpolate(output, size=self.vgg_size, mode="bilinear", align_corners=False, antialias=True)
            target = F.interpolate(target, size=self.vgg_size, mode="bilinear", align_corners=False, antialias=True)
        # The target side needs no graph.
        feats_out = self.vgg(output)
        with torch.no_grad():
            feats_tgt = self.vgg(target)
        pairs = list(zip(feats_out, feats_tgt, strict=True))
        perceptual = sum(w * F.l1_loss(o, t) for w, (o, t) in zip(PERCEPTUAL_LAYER_WEIGHTS, pairs, strict=True))
        # Gram matrices in float32 even under autocast: in bf16 their sums over H*W positions lose
        # the small differences the style term is made of.
        with torch.autocast(device_type=output.device.type, enabled=False):
            style = sum(F.l1_loss(gram(o.float()), gram(t.float())) for o, t in pairs)
        return perceptual, style  # type: ignore[return-value]
