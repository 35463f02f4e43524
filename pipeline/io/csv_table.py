"""Reading the CSV tables one stage hands to the next (manifest, pairs), with clear errors."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path


def read_table(path: Path, required: Iterable[str], what: str, producer: str) -> list[dict[str, str]]:
    """Rows of the CSV file ``path``; a missing file or required column raises an error naming both.

    ``what`` names the table in the message (``"manifest"``) and ``producer`` the
    stage that writes it, so the message says what to run.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found; run the {producer} stage first")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{what} {path} lacks column(s) {missing}")
        return list(reader)
