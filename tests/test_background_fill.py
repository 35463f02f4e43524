"""The grey area's fill from its border (pipeline.models.background_fill) and the TOM input that uses it."""

from __future__ import annotations

import torch

from pipeline.models.background_fill import AGNOSTIC_GREY, fill_hidden, hidden_area
from pipeline.models.tom import TOM, TOMConfig
from pipeline.train.inputs import PERSON_CHANNELS


def _backdrop(h: int = 64, w: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-tone backdrop (left dark, right light) with a grey hole over the middle."""
    image = torch.full((1, 3, h, w), 0.6)
    image[..., : w // 2] = -0.4
    hidden = torch.zeros(1, 1, h, w)
    hidden[..., 12:52, 10:38] = 1
    return image, hidden


def test_known_pixels_are_kept_exactly_and_the_hole_takes_its_border() -> None:
    image, hidden = _backdrop()
    filled = fill_hidden(image, hidden)
    keep = hidden.expand_as(image) == 0
    assert torch.equal(filled[keep], image[keep])
    # Inside the hole, each side takes the colour of the backdrop next to it.
    assert (filled[0, :, 32, 11] - (-0.4)).abs().max() < 0.2
    assert (filled[0, :, 32, 36] - 0.6).abs().max() < 0.2
    assert filled[0, 0, 32, 11] < filled[0, 0, 32, 24] < filled[0, 0, 32, 36]


def test_a_flat_backdrop_is_filled_exactly() -> None:
    image = torch.full((2, 3, 40, 30), 0.25)
    hidden = torch.zeros(2, 1, 40, 30)
    hidden[0, :, 5:35, 5:25] = 1
    hidden[1, :, :, 3:] = 1  # almost all hidden: a thin strip tells the colour
    assert torch.allclose(fill_hidden(image, hidden), image, atol=1e-6)


def test_hidden_area_is_the_agnostic_grey() -> None:
    image, hidden = _backdrop()
    agnostic = image * (1 - hidden) + (AGNOSTIC_GREY / 127.5 - 1) * hidden
    assert torch.equal(hidden_area(agnostic), hidden)
    assert torch.equal(hidden_area(agnostic[0]), hidden[0])


def test_tom_with_background_input_sees_the_fill() -> None:
    torch.manual_seed(0)
    cfg = TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, attention_heads=2, background_input=True)
    tom = TOM(cfg)
    assert tom.full[0].in_channels == PERSON_CHANNELS + 3 + 1 + 3
    image, hidden = _backdrop()
    agnostic = image * (1 - hidden) + (AGNOSTIC_GREY / 127.5 - 1) * hidden
    rest = torch.zeros(1, PERSON_CHANNELS - 3, 64, 48)
    inputs = torch.cat([agnostic, rest], dim=1)
    cloth, mask = torch.zeros(1, 3, 64, 48), torch.zeros(1, 1, 64, 48)
    seen: list[torch.Tensor] = []
    tom.full.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    out = tom(inputs, cloth, mask)
    assert out.output.shape == (1, 3, 64, 48)
    # After the person inputs and the warped cloth come the agnostic's grey area filled from its border.
    extra = seen[0][:, PERSON_CHANNELS + 3:PERSON_CHANNELS + 6]
    assert torch.allclose(extra, fill_hidden(agnostic, hidden))
    assert (extra[0, :, 32, 11] - (-0.4)).abs().max() < 0.2  # the grey is gone: the dark side shows
    assert torch.equal(seen[0][:, PERSON_CHANNELS + 6:], mask)
    # An old bundle (no background input) keeps its 41 + 3 + 1 input channels.
    assert TOM(TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, attention_heads=2)).full[0].in_channels == PERSON_CHANNELS + 4


def test_rendered_is_a_residual_on_the_fill_and_paste_stays_inside_the_warp() -> None:
    torch.manual_seed(0)
    tom = TOM(TOMConfig(in_channels=PERSON_CHANNELS, ngf=8, attention_heads=2, background_input=True))
    last = tom.head[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)  # the network adds nothing: rendered is the guess itself
    image, hidden = _backdrop()
    agnostic = image * (1 - hidden) + (AGNOSTIC_GREY / 127.5 - 1) * hidden
    inputs = torch.cat([agnostic, torch.zeros(1, PERSON_CHANNELS - 3, 64, 48)], dim=1)
    mask = torch.zeros(1, 1, 64, 48)
    mask[..., 20:40, 15:30] = 1
    out = tom(inputs, torch.ones(1, 3, 64, 48), mask)
    assert torch.allclose(out.rendered, fill_hidden(agnostic, hidden), atol=1e-3)
    # sigmoid(0) = 0.5 inside the warped mask, exactly 0 outside: the warp's white surround is never pasted.
    assert torch.equal(out.comp_mask[mask == 0], torch.zeros_like(out.comp_mask[mask == 0]))
    assert torch.allclose(out.comp_mask[mask == 1], torch.full_like(out.comp_mask[mask == 1], 0.5))
