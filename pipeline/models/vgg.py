"""Frozen VGG19 feature extractor for perceptual and style losses, loaded from a local weights file only."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from pipeline.log import get_logger

log = get_logger(__name__)

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG19 checkpoint name
# Index of relu1_2, relu2_2, relu3_2, relu4_2 in torchvision's ``vgg19().features``.
LAYERS: dict[str, int] = {"relu1_2": 3, "relu2_2": 8, "relu3_2": 13, "relu4_2": 22}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights a loss needs are not on disk (nothing is ever downloaded)."""


def default_vgg19_path() -> Path:
    """Where torchvision caches VGG19: ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class VGG19Features(nn.Module):
    """VGG19 up to relu4_2 returning the four :data:`LAYERS` activations of an image in [-1, 1].

    ``weights_path`` None means torchvision's cache. ``allow_random=True`` keeps random weights
    when the file is absent; it exists for tests and speed benchmarks only, never for training.
    """

    def __init__(self, weights_path: str | Path | None = None, allow_random: bool = False) -> None:
        super().__init__()
        path = Path(weights_path) if weights_path else default_vgg19_path()
        if not path.is_file() and not allow_random:
            raise MissingWeightsError(
                f"VGG19 weights not found at {path}; set train_tom.vgg_weights to a {VGG19_FILE} file or place it "
                "in the torch hub cache (`vton weights fetch vgg19` downloads it there), or set "
                "train_tom.loss_weights.perceptual and .style to 0."
            )
        # torchvision's own VGG19 ("E") layer list, without the 120M-parameter classifier we never use.
        self.features = make_layers(cfgs["E"])[: max(LAYERS.values()) + 1]
        if path.is_file():
            self._load(path)
        else:
            log.warning("vgg19 has random weights", path=str(path))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        wanted = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        own = self.features.state_dict()
        missing = sorted(set(own) - set(wanted))
        if missing:
            raise MissingWeightsError(f"{path} is not a torchvision VGG19 checkpoint (it lacks features.{missing[0]}).")
        self.features.load_state_dict({k: wanted[k] for k in own})
        log.info("vgg19 weights loaded", path=str(path))

    def train(self, mode: bool = True) -> VGG19Features:
        # Always stays in eval mode: it is a fixed loss network.
        return super().train(False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Activations at :data:`LAYERS` of ``x`` [B, 3, H, W] in [-1, 1]."""
        h = ((x + 1) / 2 - self.mean) / self.std
        out: dict[str, Tensor] = {}
        wanted = {i: name for name, i in LAYERS.items()}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in wanted:
                out[wanted[i]] = h
        return out
