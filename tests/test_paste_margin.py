"""The TOM's paste margin (``TOMConfig.paste_margin``): the paste may reach a few pixels past the warp."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.losses import TOMLoss, TOMLossWeights
from pipeline.models.tom import TOM, TOMConfig
from pipeline.train.inputs import PERSON_CHANNELS

H, W = 64, 48


def _tom(**overrides: object) -> TOM:
    torch.manual_seed(0)
    cfg = {"in_channels": PERSON_CHANNELS, "ngf": 8, "attention_heads": 2, "background_input": True, **overrides}
    tom = TOM(TOMConfig(**cfg))  # type: ignore[arg-type]
    # A head that says "paste" everywhere: the margin alone decides where the paste stops.
    torch.nn.init.zeros_(tom.head[-1].weight)
    with torch.no_grad():
        tom.head[-1].bias.zero_()
        tom.head[-1].bias[3] = 20.0
    return tom


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A red warped cloth inside a box on the warp's white surround, and the box's mask."""
    inputs = torch.zeros(1, PERSON_CHANNELS, H, W)
    mask = torch.zeros(1, 1, H, W)
    mask[..., 20:40, 15:30] = 1
    cloth = torch.ones(1, 3, H, W)
    cloth[:, 0:1] = torch.where(mask > 0, torch.tensor(0.8), cloth[:, 0:1])
    cloth[:, 1:] = torch.where(mask > 0, torch.tensor(-0.8), cloth[:, 1:])
    return inputs, cloth, mask


def test_the_paste_reaches_the_margin_in_the_cloths_own_colours_and_no_further() -> None:
    inputs, cloth, mask = _inputs()
    out = _tom(paste_margin=2)(inputs, cloth, mask)
    assert out.paste_area is not None
    # Two pixels past the box on each side, not three.
    assert out.paste_area[0, 0, 18, 13] == 1 and out.paste_area[0, 0, 17, 15] == 0
    assert out.paste_area[0, 0, 41, 31] == 1 and out.paste_area[0, 0, 42, 20] == 0
    # Inside the margin the output is the cloth's red carried outwards, never the white surround.
    band = (out.paste_area > 0) & (mask == 0)
    red, green = out.output[:, 0:1][band], out.output[:, 1:2][band]
    assert red.min() > 0.7 and green.max() < -0.7
    # Inside the warp the cloth is pasted unchanged.
    inside = mask.expand_as(cloth) > 0
    assert torch.allclose(out.output[inside], cloth[inside], atol=1e-6)
    # Outside the margin nothing is pasted.
    assert torch.equal(out.comp_mask[out.paste_area == 0], torch.zeros_like(out.comp_mask[out.paste_area == 0]))


def test_without_a_margin_the_paste_stays_inside_the_warp() -> None:
    inputs, cloth, mask = _inputs()
    out = _tom()(inputs, cloth, mask)
    assert out.paste_area is None
    assert torch.equal(out.comp_mask[mask == 0], torch.zeros_like(out.comp_mask[mask == 0]))


def test_the_mask_target_follows_the_margin_on_the_worn_garment() -> None:
    inputs, cloth, mask = _inputs()
    worn = torch.zeros_like(mask)
    worn[..., 19:41, 15:30] = 1  # the garment is one pixel longer than its warp at the top and the hem
    loss = TOMLoss(TOMLossWeights(perceptual=0, style=0, adversarial=0, l1=0, ssim=0, mask=1.0), mask_target="warped_worn")
    target = torch.zeros(1, 3, H, W)
    margin = _tom(paste_margin=2)(inputs, cloth, mask)
    plain = _tom()(inputs, cloth, mask)
    # Pasting on the worn rows past the warp is right with the margin, and no paste is possible there without it.
    with_margin = margin._replace(comp_mask=worn * margin.paste_area)
    assert loss(with_margin, target, warped_mask=mask, worn_mask=worn)["mask"] == 0
    assert loss(plain._replace(comp_mask=worn * mask), target, warped_mask=mask, worn_mask=worn)["mask"] == 0
    assert loss(with_margin._replace(comp_mask=mask * worn), target, warped_mask=mask, worn_mask=worn)["mask"] > 0


def test_bad_margins_name_the_param() -> None:
    with pytest.raises(ValueError, match="paste_margin"):
        TOMConfig(in_channels=PERSON_CHANNELS, paste_margin=-1)
    with pytest.raises(ValueError, match="paste_margin needs use_mask"):
        TOMConfig(in_channels=PERSON_CHANNELS, use_mask=False, paste_margin=2)
