"""The TOM's garment head (``TOMConfig.garment_shape``) and its loss term."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.background_fill import fill_hidden
from pipeline.models.losses import TOMLoss, TOMLossWeights
from pipeline.models.tom import SHAPE_PRIOR, TOM, TOMConfig
from pipeline.train.inputs import PERSON_CHANNELS

H, W = 64, 48


def _tom(**overrides: object) -> TOM:
    torch.manual_seed(0)
    cfg = {"in_channels": PERSON_CHANNELS, "ngf": 8, "attention_heads": 2, "background_input": True,
           "garment_shape": True, **overrides}
    return TOM(TOMConfig(**cfg))  # type: ignore[arg-type]


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A person on a mid-grey backdrop, a red warped cloth inside a box, and the box's mask."""
    inputs = torch.zeros(1, PERSON_CHANNELS, H, W)
    mask = torch.zeros(1, 1, H, W)
    mask[..., 20:40, 15:30] = 1
    cloth = torch.ones(1, 3, H, W)  # the warp's white surround
    cloth[:, 0:1] = torch.where(mask > 0, torch.tensor(0.8), cloth[:, 0:1])
    cloth[:, 1:] = torch.where(mask > 0, torch.tensor(-0.8), cloth[:, 1:])
    return inputs, cloth, mask


def test_a_zero_head_keeps_the_warps_outline_and_paints_the_garment_in_the_warps_colours() -> None:
    tom = _tom()
    torch.nn.init.zeros_(tom.head[-1].weight)
    torch.nn.init.zeros_(tom.head[-1].bias)
    inputs, cloth, mask = _inputs()
    out = tom(inputs, cloth, mask)
    assert out.garment is not None and out.garment.shape == (1, 1, H, W)
    inside, outside = torch.sigmoid(torch.tensor(SHAPE_PRIOR)), torch.sigmoid(torch.tensor(-SHAPE_PRIOR))
    assert inside > 0.9 and outside < 0.1
    assert torch.allclose(out.garment[mask == 1], inside.expand(int(mask.sum())))
    assert torch.allclose(out.garment[mask == 0], outside.expand(int((1 - mask).sum())))
    # The paste is held inside the warp and inside the garment: sigmoid(0) * inside in the box, 0 outside.
    assert torch.allclose(out.comp_mask[mask == 1], (0.5 * inside).expand(int(mask.sum())))
    assert torch.equal(out.comp_mask[mask == 0], torch.zeros_like(out.comp_mask[mask == 0]))
    # Outside the warp the garment's share of the rendering carries the cloth's red, never the white surround.
    extended = fill_hidden(cloth, 1 - mask)
    assert extended[0, 0, 50, 5] > 0.5 and extended[0, 1, 50, 5] < -0.5
    backdrop = fill_hidden(inputs[:, :3], torch.zeros(1, 1, H, W))
    g = out.garment
    expected = g * extended.clamp(-0.999, 0.999) + (1 - g) * backdrop.clamp(-0.999, 0.999)
    assert torch.allclose(out.rendered, expected, atol=1e-3)


def test_garment_shape_needs_the_warped_mask() -> None:
    with pytest.raises(ValueError, match="use_mask"):
        TOMConfig(in_channels=PERSON_CHANNELS, use_mask=False, garment_shape=True)


def test_a_tom_without_the_head_keeps_its_four_output_channels() -> None:
    assert _tom(garment_shape=False).head[-1].out_channels == 4
    assert _tom().head[-1].out_channels == 8
    inputs, cloth, mask = _inputs()
    assert _tom(garment_shape=False)(inputs, cloth, mask).garment is None


def test_shape_term_rewards_the_worn_shape_and_trains_the_head() -> None:
    tom = _tom()
    inputs, cloth, mask = _inputs()
    worn = torch.zeros_like(mask)
    worn[..., 18:44, 12:33] = 1  # the worn garment is larger than its warp
    loss = TOMLoss(TOMLossWeights(perceptual=0, style=0, adversarial=0, mask=0, l1=0, shape=1.0))
    target = torch.zeros(1, 3, H, W)
    out = tom(inputs, cloth, mask)
    right = loss(out._replace(garment=worn * 0.98 + 0.01), target, worn_mask=worn)["shape"]
    wrong = loss(out._replace(garment=(1 - worn) * 0.98 + 0.01), target, worn_mask=worn)["shape"]
    assert right < 0.05 < 2.0 < wrong
    terms = loss(out, target, worn_mask=worn)
    terms["total"].backward()
    assert tom.head[-1].weight.grad is not None and tom.head[-1].weight.grad[4].abs().sum() > 0


def test_shape_weight_without_the_head_names_the_param() -> None:
    inputs, cloth, mask = _inputs()
    out = _tom(garment_shape=False)(inputs, cloth, mask)
    loss = TOMLoss(TOMLossWeights(perceptual=0, style=0, adversarial=0, shape=1.0))
    with pytest.raises(ValueError, match="garment_shape"):
        loss(out, torch.zeros(1, 3, H, W), warped_mask=mask, worn_mask=mask)
