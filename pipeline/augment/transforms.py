"""albumentations pipelines declared in params: ``[{name: HorizontalFlip, p: 0.5}, ...]``."""

from __future__ import annotations

import inspect
from typing import Any

import albumentations as A


def build_transform(spec: dict[str, Any], where: str) -> A.BasicTransform:
    """Instantiate ``getattr(albumentations, name)(**kwargs)``, failing clearly on bad names or args."""
    spec = dict(spec)
    name = spec.pop("name", None)
    cls = getattr(A, str(name), None) if name else None
    if not (inspect.isclass(cls) and issubclass(cls, A.BasicTransform)):
        raise ValueError(f"{where}: {name!r} is not an albumentations transform (e.g. HorizontalFlip, Affine, ColorJitter)")
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = sorted(k for k in spec if k not in params)
    if unknown and not takes_any:
        allowed = sorted(k for k in params if k != "self")
        raise ValueError(f"{where}: {name} has no argument(s) {unknown}; it takes {allowed}")
    try:
        return cls(**spec)
    except Exception as exc:  # noqa: BLE001 - albumentations reports bad values as pydantic/Type/ValueErrors
        raise ValueError(f"{where}: {name}({spec}) rejected its arguments: {exc}") from exc


def build_compose(specs: list[dict[str, Any]], where: str, shared: bool = False) -> A.Compose:
    """A ``Compose`` of the declared transforms; ``shared`` adds the garment as a second image target."""
    transforms = [build_transform(s, f"{where}[{i}]") for i, s in enumerate(specs)]
    return A.Compose(transforms, additional_targets={"cloth": "image"} if shared else None, seed=0)
