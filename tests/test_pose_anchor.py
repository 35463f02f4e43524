"""The GMM's pose-anchored start (``GMMConfig.pose_anchor``): measurement, fallback, composition and export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.models.gmm import GMM, GMMConfig, warp
from pipeline.models.pose_anchor import L_SHOULDER, NECK, R_SHOULDER, PoseAnchor, heatmap_peaks, mask_extent
from pipeline.train.pose_maps import heatmaps
from tests.test_models import PERSON_CH

H, W = 128, 96


def _pose(neck: tuple[float, float], half_shoulders: float, size: tuple[int, int] = (H, W), sigma: float = 3.0) -> torch.Tensor:
    """[1, 25, H, W] heatmaps with the neck at ``neck`` (pixels) and the shoulders level beside it."""
    kps = np.zeros((25, 3), dtype=np.float32)
    kps[NECK] = (*neck, 1.0)
    kps[R_SHOULDER] = (neck[0] - half_shoulders, neck[1], 1.0)
    kps[L_SHOULDER] = (neck[0] + half_shoulders, neck[1], 1.0)
    return heatmaps(kps, size, sigma=sigma).unsqueeze(0)


def _box(x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, H, W)
    mask[..., y0:y1, x0:x1] = 1.0
    return mask


def _pixels(x: torch.Tensor, size: int) -> torch.Tensor:
    return (x + 1) / 2 * (size - 1)


def test_peaks_are_found_to_a_fraction_of_a_pixel_after_shrinking() -> None:
    big = _pose((201.3, 150.7), 60.0, size=(512, 384), sigma=12.0)
    small = F.interpolate(big, size=(H, W), mode="area")  # what the GMM sees at its working size
    points, seen = heatmap_peaks(small[:, [NECK, R_SHOULDER, L_SHOULDER, 0]])
    assert seen[0].tolist() == [True, True, True, False]  # the nose was never placed
    neck_px = (_pixels(points[0, 0, 0], W).item() * 4 + 1.5, _pixels(points[0, 0, 1], H).item() * 4 + 1.5)
    assert abs(neck_px[0] - 201.3) < 1.0 and abs(neck_px[1] - 150.7) < 1.0, neck_px


def test_mask_extent_reads_a_box_and_ignores_a_stray_pixel_above_it() -> None:
    mask = _box(20, 76, 30, 110)
    mask[..., 5, 48] = 1.0
    cx, top, width, present = mask_extent(mask)
    assert present.item()
    assert abs(_pixels(cx, W).item() - 47.5) < 0.5
    assert abs(_pixels(top, H).item() - 30) < 0.5
    assert abs(width.item() * (W - 1) / 2 - 56) < 1.5  # 56 px wide, in pixels
    assert not mask_extent(torch.zeros(1, 1, H, W))[3].item()


def test_the_anchor_puts_the_cloth_top_centre_on_the_neck_at_the_shoulder_scale() -> None:
    # The cloth spans 60 px in its photo; on the body it should span 1.5 shoulder widths of 20 px = 30 px.
    anchor = PoseAnchor((H, W), width_init=1.5, top_init=0.25)
    pose, cloth = _pose((50.0, 40.0), 10.0), _box(18, 78, 20, 120)
    scale, shift = anchor(pose, cloth)
    assert abs(scale.item() - 2.0) < 0.05, scale
    # The person's garment top: 0.25 shoulder widths (5 px) above the neck, centred on it.
    person_top = torch.tensor([(50.0 / (W - 1)) * 2 - 1, ((40.0 - 5.0) / (H - 1)) * 2 - 1])
    lands = scale * person_top + shift[0]
    assert abs(_pixels(lands[0], W).item() - 47.5) < 0.6 and abs(_pixels(lands[1], H).item() - 20) < 0.6, lands
    # Where it lands, the pre-warped cloth has its top-centre.
    warped = warp(cloth, anchor.grid(scale, shift))
    rows = warped[0, 0].sum(dim=1)
    assert abs(int(torch.nonzero(rows > 0.5)[0]) - 35) <= 1
    assert abs(float(warped[0, 0].sum(dim=0).gt(0.5).sum()) - 30) <= 2  # 30 px wide on the body


def test_an_unseen_shoulder_or_an_empty_mask_leaves_the_identity() -> None:
    anchor = PoseAnchor((H, W))
    pose, cloth = _pose((50.0, 40.0), 10.0), _box(18, 78, 20, 120)
    pose_missing = pose.clone()
    pose_missing[:, L_SHOULDER] = 0
    for p, c in ((pose_missing, cloth), (pose, torch.zeros_like(cloth))):
        scale, shift = anchor(p, c)
        assert scale.item() == 1.0 and shift.abs().max().item() == 0.0


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    person = torch.zeros(1, PERSON_CH, H, W)
    person[:, 3:28] = _pose((50.0, 40.0), 10.0)
    cloth_mask = _box(18, 78, 20, 120)
    cloth = torch.cat([torch.rand(1, 3, H, W) * 2 - 1, cloth_mask], dim=1)
    return person, cloth


def test_an_anchored_gmm_starts_from_the_anchor_and_learns_its_constants() -> None:
    torch.manual_seed(0)
    cfg = GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W), pose_anchor=True)
    gmm = GMM(cfg)
    person, cloth = _inputs()
    grid, theta = gmm(person, cloth)
    scale, shift = gmm.anchor(person[:, 3:28], cloth[:, 3:])
    expected = gmm.anchor.grid(scale, shift)
    assert scale.item() > 1.2  # the cloth is shrunk onto the body, not left at the identity
    assert (grid - expected).abs().max().item() < 0.05  # tiny initial spline offsets on top of the anchor
    warp(cloth[:, 3:], grid).mean().backward()
    assert gmm.anchor.log_width.grad is not None and gmm.anchor.log_width.grad.abs().item() > 0
    assert gmm.anchor.top.grad is not None and gmm.anchor.top.grad.abs().item() > 0
    # Without the flag the state dict has no anchor, so older checkpoints still load.
    plain = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W)))
    missing, unexpected = plain.load_state_dict(gmm.state_dict(), strict=False)
    assert not missing and sorted(unexpected) == ["anchor.log_width", "anchor.top"]


def test_an_anchored_gmm_exports_to_onnx(tmp_path: Path) -> None:
    from pipeline.train.export import GMMExport
    from pipeline.infer.onnx_export import _export_one, max_abs_diff

    torch.manual_seed(0)
    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(H, W), pose_anchor=True)).eval()
    module = GMMExport(gmm).eval()
    person, cloth = _inputs()
    x = torch.cat([person, cloth], dim=1)
    _export_one(module, x.expand(2, -1, -1, -1).contiguous(), tmp_path / "gmm.onnx", 17)
    other = torch.cat([torch.cat([torch.zeros_like(person), cloth], dim=1), x])  # one with no pose: the identity fallback
    assert max_abs_diff(module, tmp_path / "gmm.onnx", other) < 1e-3
