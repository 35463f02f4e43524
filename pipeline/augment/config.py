"""Typed settings of the augment stage, built from the ``augment:`` params block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.config_mapping import check_keys

PadColour = str | tuple[int, int, int]  # "border", "white" or an RGB triple


def _default_shared() -> list[dict[str, Any]]:
    # Only changes that keep the garment shot and the worn garment alike: a mirror
    # image of both, and the same small hue/saturation shift of both. Brightness and
    # contrast are left out here because they would turn a white cloth background grey.
    return [
        {"name": "HorizontalFlip", "p": 0.5},
        {"name": "ColorJitter", "brightness": [1.0, 1.0], "contrast": [1.0, 1.0],
         "saturation": [0.85, 1.15], "hue": [-0.02, 0.02], "p": 0.5},
    ]


def _default_person() -> list[dict[str, Any]]:
    # Pose/framing jitter and lighting belong to the photo, not to the garment.
    return [
        {"name": "Affine", "scale": [0.95, 1.05], "translate_percent": [-0.03, 0.03], "rotate": [-5, 5],
         "border_mode": 1, "p": 0.7},
        {"name": "RandomBrightnessContrast", "brightness_limit": 0.08, "contrast_limit": 0.08, "p": 0.3},
    ]


def _pad(value: Any, where: str) -> PadColour:
    if isinstance(value, str) and value in ("border", "white"):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise ValueError(f"{where} must be 'border', 'white' or [r, g, b] with 0..255 integers, got {value!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """How many variants to make of each training pair, with which transforms, at what size.

    ``variants`` counts the original: 6 gives ``_00`` (untouched, only resized) plus
    ``_01``..``_05`` augmented. ``shared`` transforms get identical random parameters
    on the person and the garment; ``person`` and ``garment`` ones touch one side only.
    """

    size: tuple[int, int] = (768, 1024)  # (width, height)
    variants: int = 6
    seed: int = 1234
    jpeg_quality: int = 95
    shared: list[dict[str, Any]] = field(default_factory=_default_shared)
    person: list[dict[str, Any]] = field(default_factory=_default_person)
    garment: list[dict[str, Any]] = field(default_factory=list)
    image_pad: PadColour = "border"
    cloth_pad: PadColour = "white"
    workers: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AugmentConfig:
        """Build from the ``augment:`` params block; unknown keys and bad values are errors."""
        data = dict(data or {})
        check_keys(cls, data, "augment")
        size = data.pop("size", (768, 1024))
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v >= 16 for v in size)):
            raise ValueError(f"augment.size must be [width, height] in pixels (>= 16), got {size!r}")
        for key in ("shared", "person", "garment"):
            specs = data.get(key)
            if specs is None:
                continue
            if not isinstance(specs, list) or not all(isinstance(s, dict) and "name" in s for s in specs):
                raise ValueError(f"augment.{key} must be a list of {{name: Transform, ...}} mappings")
        for key in ("image_pad", "cloth_pad"):
            if key in data:
                data[key] = _pad(data[key], f"augment.{key}")
        for key in ("variants", "seed", "jpeg_quality", "workers"):
            if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool)):
                raise ValueError(f"augment.{key} must be an integer, got {data[key]!r}")
        cfg = cls(size=(int(size[0]), int(size[1])), **data)
        if cfg.variants < 1:
            raise ValueError("augment.variants must be >= 1 (it counts the untouched original)")
        if not 1 <= cfg.jpeg_quality <= 100:
            raise ValueError("augment.jpeg_quality must be in 1..100")
        if cfg.workers < 1:
            raise ValueError("augment.workers must be >= 1")
        return cfg
