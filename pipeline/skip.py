"""The error that makes a stage skip one item and count it in its metrics under a reason."""

from __future__ import annotations


class SkipItem(ValueError):
    """One item (an image, a person, a garment) cannot be used.

    ``reason`` is a short slug the stage counts in ``metrics/<stage>.json``;
    ``detail`` says what was found, for the log.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
