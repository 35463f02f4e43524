"""Dataclass configs built from params.yaml mappings: unknown keys are named, YAML lists become tuples.

Every typed config of the library (``PoseConfig``, ``TrainConfig``, ...) is built
from one block of params.yaml. A misspelt key must stop the stage with a message
naming the key and the ones allowed, rather than be ignored; and YAML has no
tuples, so a list given for a tuple-typed field is converted (frozen dataclasses
stay hashable and compare equal to their defaults).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def check_keys(
    cls: type,
    data: Any,
    where: str,
    *,
    also: Iterable[str] = (),
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` unless ``data`` is a mapping whose keys are fields of dataclass ``cls`` (or in ``also``).

    ``where`` names the params block in the message (``"pose"``, ``"scrape.http"``).
    Fields whose names start with ``_`` are private and not accepted.
    """
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")} | set(also)
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown {where} param(s) {unknown}; known: {sorted(known)}")


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str, *, error: type[Exception] = ValueError) -> T:
    """Instantiate dataclass ``cls`` from ``data`` (None = all defaults), checking keys as :func:`check_keys` does.

    Lists given for tuple-typed fields (also ``tuple[...] | None``) become tuples;
    a missing required field raises ``error`` rather than ``TypeError``.
    """
    data = {} if data is None else data
    check_keys(cls, data, where, error=error)
    hints = typing.get_type_hints(cls)
    kwargs = {key: _tuples_for_tuple_fields(hints.get(key), value) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise error(f"{where}: {err}") from None


def _tuples_for_tuple_fields(hint: Any, value: Any) -> Any:
    if not isinstance(value, list):
        return value
    origin = typing.get_origin(hint)
    if origin is tuple:
        return tuple(value)
    if origin in (typing.Union, types.UnionType) and any(typing.get_origin(a) is tuple for a in typing.get_args(hint)):
        return tuple(value)
    return value
