"""The GMM's dense flow refinement (``GMMConfig.flow_refine``) and its smoothness term."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.gmm import GMM, GMMConfig, warp
from pipeline.models.losses import GMMLossWeights, flow_variation, gmm_loss
from tests.test_models import PERSON_CH, affine_grid, smooth_image

H, W = 64, 64


def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Garments on white, and a person wearing each one shifted right by a known amount."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    cmask = ((xx.abs() < 0.5) & (yy.abs() < 0.6)).float().expand(2, 1, H, W).clone()
    torch.manual_seed(0)
    cloth = smooth_image(2, 3, H, W, cells=3) * cmask + (1 - cmask)
    known = affine_grid(2, H, W, 1.0, (0.12, 0.0))
    person, worn = warp(cloth, known), warp(cmask, known)
    person_in = torch.cat([person * (1 - worn), torch.zeros(2, PERSON_CH - 3, H, W)], 1)
    return person_in, torch.cat([cloth, cmask], 1), person, worn, known


def test_a_new_refiner_leaves_the_splines_grid_unchanged() -> None:
    torch.manual_seed(0)
    refined = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W), flow_refine=True, flow_channels=8))
    plain = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W)))
    missing, unexpected = plain.load_state_dict(refined.state_dict(), strict=False)
    assert not missing and all(k.startswith("refiner.") for k in unexpected)
    person_in, cloth_in, *_ = _pair()
    grid, theta, flow = refined(person_in, cloth_in, return_flow=True)
    assert flow is not None and flow.shape == (2, 2, H // 4, W // 4) and flow.abs().max() == 0
    assert torch.equal(grid, plain(person_in, cloth_in)[0])
    assert plain(person_in, cloth_in, return_flow=True)[2] is None


def test_the_refiner_learns_a_shift_the_frozen_spline_misses() -> None:
    torch.manual_seed(0)
    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W), flow_refine=True, flow_channels=8))
    for name, p in gmm.named_parameters():
        p.requires_grad_(name.startswith("refiner."))
    person_in, cloth_in, person, worn, known = _pair()
    opt = torch.optim.Adam([p for p in gmm.parameters() if p.requires_grad], lr=3e-3)
    weights = GMMLossWeights(smooth=0.0, flow_smooth=0.01)
    first = None
    for _ in range(40):
        grid, theta, flow = gmm(person_in, cloth_in, return_flow=True)
        terms = gmm_loss(warp(cloth_in[:, :3], grid), person, worn, theta, 5, warp(cloth_in[:, 3:], grid), weights, flow)
        error = (grid - known).abs().mean().item()
        first = first or (terms["mask"].item(), error)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    assert terms["mask"].item() < 0.6 * first[0], (first, terms["mask"].item())
    assert error < 0.7 * first[1], (first, error)
    assert terms["flow_smooth"].item() > 0


def test_flow_variation_is_in_pixels_per_cell() -> None:
    h, w = 9, 11
    assert flow_variation(torch.full((1, 2, h, w), 0.3)).item() == 0
    # x grows by one pixel per cell: (w - 1) / 2 pixels per grid unit.
    ramp = torch.zeros(1, 2, h, w)
    ramp[:, 0] = torch.arange(w, dtype=torch.float32) * 2 / (w - 1)
    assert flow_variation(ramp).item() == pytest.approx(1.0)


def test_flow_smoothness_without_the_refiner_names_the_param() -> None:
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="model.flow_refine"):
        gmm_loss(x, x, x[:, :1], torch.zeros(1, 50), 5, x[:, :1], GMMLossWeights(flow_smooth=1.0))
    with pytest.raises(ValueError, match="flow_channels|GMMConfig"):
        GMMConfig(person_channels=PERSON_CH, flow_refine=True, flow_channels=0)
