"""Configs from params mappings: unknown keys are named, YAML lists become tuples, missing fields are ValueErrors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipeline.config_mapping import check_keys, from_mapping


@dataclass(frozen=True)
class _Example:
    name: str
    size: tuple[int, int] = (256, 192)
    splits: tuple[str, ...] | None = None
    tags: list[str] | None = None
    _private: int = 0


class _OwnError(ValueError):
    pass


def test_lists_become_tuples_only_for_tuple_fields() -> None:
    cfg = from_mapping(_Example, {"name": "a", "size": [64, 48], "splits": ["train"], "tags": ["x"]}, "example")
    assert cfg.size == (64, 48) and cfg.splits == ("train",) and cfg.tags == ["x"]
    assert cfg == from_mapping(_Example, {"name": "a", "size": (64, 48), "splits": ("train",), "tags": ["x"]}, "example")
    hash(from_mapping(_Example, {"name": "a", "size": [1, 2]}, "example"))  # frozen and hashable


def test_unknown_and_private_keys_are_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown example param\(s\) \['sise'\]; known: \['name', 'size', 'splits', 'tags'\]"):
        from_mapping(_Example, {"name": "a", "sise": 3}, "example")
    with pytest.raises(ValueError, match=r"\['_private'\]"):
        from_mapping(_Example, {"name": "a", "_private": 1}, "example")
    check_keys(_Example, {"name": "a", "workers": 2}, "example", also=("workers",))


def test_missing_field_and_non_mapping_raise_the_chosen_error() -> None:
    with pytest.raises(ValueError, match="example: .*'name'"):
        from_mapping(_Example, None, "example")
    with pytest.raises(_OwnError, match="example: expected a mapping, got list"):
        from_mapping(_Example, ["name"], "example", error=_OwnError)  # type: ignore[arg-type]
    with pytest.raises(_OwnError, match="unknown example param"):
        check_keys(_Example, {"nam": "a"}, "example", error=_OwnError)
