"""Collapse CIHP's 20 parsing labels into the 13 body-part groups HR-VITON trains on.

Groups (index: name <- CIHP ids), exactly HR-VITON's ``cp_dataset`` table, so a
model trained here reads the same channel layout as the published code:

0 background <- 0, 10 (neck counts as background, as in HR-VITON)
1 hair <- 1, 2            2 face <- 4, 13           3 upper <- 5, 6, 7
4 bottom <- 9, 12         5 left_arm <- 14          6 right_arm <- 15
7 left_leg <- 16          8 right_leg <- 17         9 left_shoe <- 18
10 right_shoe <- 19       11 socks <- 8             12 noise <- 3, 11
"""

from __future__ import annotations

import numpy as np
import torch

PARSE_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("background", (0, 10)),
    ("hair", (1, 2)),
    ("face", (4, 13)),
    ("upper", (5, 6, 7)),
    ("bottom", (9, 12)),
    ("left_arm", (14,)),
    ("right_arm", (15,)),
    ("left_leg", (16,)),
    ("right_leg", (17,)),
    ("left_shoe", (18,)),
    ("right_shoe", (19,)),
    ("socks", (8,)),
    ("noise", (3, 11)),
)
NUM_GROUPS = len(PARSE_GROUPS)

# Lookup table CIHP id -> group id; ids outside 0..19 (corrupt maps) fall into background.
_LUT = np.zeros(256, dtype=np.int64)
for _group, (_name, _ids) in enumerate(PARSE_GROUPS):
    for _cihp in _ids:
        _LUT[_cihp] = _group

# Which CIHP labels make up the worn garment, per garment category.
WORN_LABELS: dict[str, tuple[int, ...]] = {
    "upper_body": (5,),
    "lower_body": (9, 12),
    "dresses": (6,),
}


def group_onehot(labels: np.ndarray) -> torch.Tensor:
    """One-hot ``[13, H, W]`` float tensor of the grouped labels of a CIHP ``[H, W]`` label map."""
    groups = torch.from_numpy(_LUT[labels.astype(np.int64)])
    return torch.nn.functional.one_hot(groups, NUM_GROUPS).permute(2, 0, 1).float()


def worn_mask(labels: np.ndarray, category: str) -> torch.Tensor:
    """``[1, H, W]`` mask of the garment the person wears for ``category`` (upper_body/lower_body/dresses)."""
    ids = WORN_LABELS.get(category)
    if ids is None:
        raise ValueError(f"unknown garment category {category!r}; expected one of {sorted(WORN_LABELS)}")
    return torch.from_numpy(np.isin(labels, ids)).float().unsqueeze(0)
