"""Pretrained networks behind LPIPS, FID and KID, loaded only from local files.

Nothing is downloaded: each loader looks at the path it is given, else the torch hub
cache, and returns ``(network, None)`` or ``(None, reason)`` so the metric can be
recorded as null with the reason. Random weights are never used in their place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.log import get_logger

log = get_logger(__name__)

# torchvision's file names for the LPIPS backbones (what torch.hub would cache them as).
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# `vton weights fetch` names (pipeline/weights.py holds their sources).
_FETCH_KEYS = {"alexnet-owt-7be5be79.pth": "alexnet", "vgg16-397923af.pth": "vgg16", INCEPTION_FILE: "inception"}


def hub_file(name: str) -> Path:
    """Where torch.hub keeps a downloaded checkpoint called ``name``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _locate(param_value: str, default_name: str, param: str) -> tuple[Path | None, str | None]:
    if param_value:
        path = Path(param_value)
        return (path, None) if path.is_file() else (None, f"{param}={param_value} does not exist")
    path = hub_file(default_name)
    if path.is_file():
        return path, None
    return None, (f"{default_name} is not in the torch hub cache ({path.parent}); set evaluate.{param} to the file, "
                  f"or run `vton weights fetch {_FETCH_KEYS.get(default_name, 'all')}`")


class LPIPSNet(nn.Module):
    """LPIPS with torchmetrics' shipped linear heads and a backbone loaded from a local file."""

    def __init__(self, net: str, backbone_state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        # pnet_rand=True only stops torchvision from fetching the backbone; its weights come next.
        self.lpips = _LPIPS(pretrained=True, net=net, pnet_rand=True)
        target = self.lpips.net.state_dict()
        mapped = {}
        for key in target:
            _, index, param = key.split(".", 2)  # slice<k>.<features index>.<weight|bias>
            src = f"features.{index}.{param}"
            if src not in backbone_state:
                raise ValueError(f"backbone weights lack {src}; is this torchvision's {net} state dict?")
            mapped[key] = backbone_state[src]
        self.lpips.net.load_state_dict(mapped, strict=True)
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image distance ``[B]`` of images in [-1, 1]."""
        return self.lpips(a, b).reshape(a.shape[0])


def load_lpips(net: str, weights: str) -> tuple[LPIPSNet | None, str | None]:
    """The LPIPS network, or None and why not."""
    path, reason = _locate(weights, LPIPS_BACKBONE_FILES[net], "lpips_weights")
    if path is None:
        return None, f"LPIPS needs the ImageNet {net} backbone: {reason}"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return LPIPSNet(net, state), None
    except Exception as exc:  # noqa: BLE001 - a wrong or broken file
        return None, f"LPIPS backbone {path} cannot be loaded: {exc}"


def load_inception(weights: str) -> tuple[Any | None, str | None]:
    """torch-fidelity's FID Inception (2048 pool features, uint8 input), or None and why not."""
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    if not _TORCH_FIDELITY_AVAILABLE:
        return None, "torch-fidelity is not installed (pip install torch-fidelity), so FID/KID cannot use its Inception network"
    path, reason = _locate(weights, INCEPTION_FILE, "inception_weights")
    if path is None:
        return None, f"FID/KID need the Inception weights: {reason}"
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                  feature_extractor_weights_path=str(path)), None
    except Exception as exc:  # noqa: BLE001
        return None, f"Inception weights {path} cannot be loaded: {exc}"
