"""Per-epoch training history as a CSV that DVC plots (``metrics/train_<model>_history.csv``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipeline.io.atomic import write_text


def write_history(path: str | Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the whole history atomically (a resumed run keeps the rows of earlier epochs)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(path, buf.getvalue())
