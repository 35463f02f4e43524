"""The three garment categories, named as Dress Code names them, shared by every stage."""

from __future__ import annotations

UPPER_BODY, LOWER_BODY, DRESSES = "upper_body", "lower_body", "dresses"
CATEGORIES: tuple[str, ...] = (UPPER_BODY, LOWER_BODY, DRESSES)


def check_category(category: str) -> str:
    """``category`` itself, or ``ValueError`` naming the three valid ones."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown garment category {category!r}; expected one of {list(CATEGORIES)}")
    return category
