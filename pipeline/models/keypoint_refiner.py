"""A small CNN that moves a few of our keypoints to where a data set's annotators put them.

MediaPipe's joints follow the body; OpenPose's hips follow the clothing and its elbows and
wrists sit a little differently, so on real VITON photos our hips miss OpenPose's by more than
0.1 torso lengths one time in six. Where a joint belongs is visible around it (the top's hem,
the waistband, the sleeve), so the network looks at two crops centred on our joint, scaled to
our torso length so that the framing of the photo does not matter, and predicts the offset in
torso lengths. One network serves every refined joint: it predicts an offset for each and the
caller keeps the one of the joint it cropped around.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from pipeline.annotate.joint_crops import KeypointRefinerConfig, crops_to_input


class KeypointRefinerNet(nn.Module):
    """Crops ``[B, 3 * len(scales), patch, patch]`` in [-1, 1] → offsets ``[B, len(joints), 2]`` in torso lengths."""

    def __init__(self, cfg: KeypointRefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for c in cfg.widths:
            layers += [
                nn.Conv2d(c_in, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            ]  # fmt: skip
            c_in = c
        # A 2x2 pool keeps where in the crop things are, which an offset needs.
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(4 * c_in, 128), nn.ReLU(inplace=True), nn.Linear(128, 2 * len(cfg.joints)))
        nn.init.zeros_(self.head[-1].weight)  # an untrained refiner moves nothing
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).view(x.shape[0], len(self.cfg.joints), 2)


def crops_tensor(crops: np.ndarray) -> Tensor:
    """:func:`crops_to_input` as a tensor."""
    return torch.from_numpy(crops_to_input(crops))
