"""Build the models' dataclass configs from plain dicts (params.yaml blocks), rejecting unknown keys."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Instantiate dataclass ``cls`` from ``data``; unknown keys raise ``ValueError`` naming them.

    YAML has no tuples, so lists given for tuple-typed fields are converted.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} expects a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        origin = typing.get_origin(hints.get(key))
        kwargs[key] = tuple(value) if origin is tuple and isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required key is missing
        raise ValueError(f"{cls.__name__}: {err}") from None
