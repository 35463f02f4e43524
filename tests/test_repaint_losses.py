"""Kept pixels (repaint) and the losses that need no pretrained network: SSIM, multi-scale PatchGAN, feature matching."""

from __future__ import annotations

import torch

from pipeline.models.discriminator import (
    DiscriminatorConfig,
    MultiScaleDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    logits,
)
from pipeline.models.losses import TOMLoss, TOMLossWeights
from pipeline.models.repaint import repaint, soft_region, tryon_region
from pipeline.models.tom import TOMOutput


def _region(h: int = 64, w: int = 48) -> torch.Tensor:
    region = torch.zeros(2, 1, h, w)
    region[:, :, 20:44, 12:36] = 1
    return region


def test_pixels_outside_the_region_are_the_photos() -> None:
    torch.manual_seed(0)
    region = _region()
    photo, generated = torch.rand(2, 3, 64, 48) * 2 - 1, torch.rand(2, 3, 64, 48) * 2 - 1
    out = repaint(photo, generated, region)
    alpha = soft_region(region)
    outside = alpha[:, 0] == 0
    assert outside.sum() > 0.5 * outside.numel()
    assert torch.equal(out.permute(0, 2, 3, 1)[outside], photo.permute(0, 2, 3, 1)[outside])
    # Inside the region the generator alone speaks; the seam is a narrow ramp outside it.
    inside = region[:, 0] > 0
    assert torch.equal(out.permute(0, 2, 3, 1)[inside], generated.permute(0, 2, 3, 1)[inside])
    seam = (alpha > 0) & (alpha < 1)
    assert seam.any() and not (seam & (region > 0)).any()
    near = torch.nn.functional.max_pool2d(region, 7, stride=1, padding=3) > 0
    assert not (seam & ~near).any()  # within 3 px (0.05 of the height here) of the region


def test_seam_scales_with_the_height() -> None:
    small = torch.nn.functional.interpolate(_region(64, 48), scale_factor=4)  # 256 high
    big = torch.nn.functional.interpolate(small, scale_factor=4)  # 1024 high
    ring = lambda r: float(((soft_region(r) > 0) & (r == 0)).float().mean())  # noqa: E731
    assert abs(ring(small) - ring(big)) < 0.5 * ring(small)


def test_tryon_region_stays_near_the_person() -> None:
    agnostic = torch.ones(1, 1, 100, 80)
    person = torch.zeros(1, 1, 100, 80)
    person[:, :, 30:70, 30:50] = 1
    region = tryon_region(agnostic, person, margin=0.05)
    assert region[0, 0, 50, 40] == 1 and region[0, 0, 50, 26] == 1  # within 5 px of the person
    assert region[0, 0, 50, 10] == 0 and region[0, 0, 5, 5] == 0  # far background is kept
    assert torch.equal(tryon_region(torch.zeros_like(agnostic), person), torch.zeros_like(agnostic))


def test_multiscale_discriminator_and_feature_matching() -> None:
    torch.manual_seed(0)
    disc = MultiScaleDiscriminator(DiscriminatorConfig(in_channels=6, ndf=8, num_scales=2))
    x = torch.randn(2, 6, 64, 48)
    feats = disc(x)
    assert len(feats) == 2 and len(feats[0]) == 5
    assert feats[1][-1].shape[-1] < feats[0][-1].shape[-1]  # the second scale sees the input halved
    assert feature_matching_loss(feats, feats).item() == 0.0
    other = disc(x + 0.5)
    fm = feature_matching_loss(other, feats)
    assert fm.item() > 0
    fm.backward()
    # Every block but the logits' conv feeds the matched activations, at both scales.
    for scale in disc.scales:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in scale.net[0].parameters())
    d = discriminator_loss(logits(feats), logits(other))
    assert torch.isfinite(d) and d.item() > 0


def test_region_ssim_and_l1_terms() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 64, 48) * 2 - 1
    region = _region()
    weights = TOMLossWeights(l1=1, perceptual=0, style=0, adversarial=0, mask=0, ssim=1, feature_matching=0)
    loss = TOMLoss(weights)
    mask = torch.zeros(2, 1, 64, 48)
    same = loss(TOMOutput(target, target, mask), target, region=region)
    assert same["ssim"].abs().item() < 1e-4 and same["l1"].item() == 0
    # An error inside the region counts in full, not diluted by the untouched rest of the picture.
    pred = target + 0.2 * region
    terms = loss(TOMOutput(pred, pred, mask), target, region=region)
    assert abs(terms["l1"].item() - 0.2) < 1e-5
    whole = loss(TOMOutput(pred, pred, mask), target)
    assert whole["l1"].item() < terms["l1"].item() and terms["ssim"].item() > whole["ssim"].item() > 0
    pred.requires_grad_(True)
    loss(TOMOutput(pred, pred, mask), target, region=region)["total"].backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_mask_target_warped_worn_only_where_the_warp_lies_on_the_garment() -> None:
    weights = TOMLossWeights(l1=0, perceptual=0, style=0, adversarial=0, mask=1, ssim=0, feature_matching=0)
    target = torch.zeros(1, 3, 8, 8)
    warped = torch.zeros(1, 1, 8, 8)
    warped[..., :, :6] = 1  # the warp reaches two columns too far left...
    worn = torch.zeros(1, 1, 8, 8)
    worn[..., :, 2:] = 1  # ...of the garment the person wears
    comp = warped * worn  # pastes only where the two agree
    out = TOMOutput(target, target, comp)
    assert TOMLoss(weights, mask_target="warped_worn")(out, target, warped_mask=warped, worn_mask=worn)["mask"].item() == 0
    # CP-VTON's target would have it paste the misplaced columns too.
    assert abs(TOMLoss(weights)(out, target, warped_mask=warped)["mask"].item() - 16 / 64) < 1e-6
    try:
        TOMLoss(weights, mask_target="warped_worn")(out, target, warped_mask=warped)
    except ValueError as exc:
        assert "worn_mask" in str(exc)
    else:
        raise AssertionError("warped_worn without a worn mask must fail")
    try:
        TOMLoss(weights, mask_target="worn")
    except ValueError as exc:
        assert "mask_target" in str(exc)
    else:
        raise AssertionError("an unknown mask target must fail")
