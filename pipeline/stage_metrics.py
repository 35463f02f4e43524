"""Counting what a stage took in, kept, and skipped (with reasons), for ``metrics/<stage>.json``."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.io.atomic import write_json
from pipeline.log import get_logger

log = get_logger(__name__)


@dataclass
class StageMetrics:
    """Running counts for one stage; ``skip`` both logs and counts."""

    stage: str
    items_in: int = 0
    items_out: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def skip(self, reason: str, item: str = "", detail: str = "") -> None:
        """Record one skipped item with a short reason slug and log it."""
        self.skipped[reason] += 1
        log.warning("skipped", stage=self.stage, reason=reason, item=item, detail=detail[:200])

    def to_dict(self) -> dict[str, Any]:
        """Metrics as a flat-ish dict (DVC shows nested keys as ``a.b``)."""
        return {
            "items_in": self.items_in,
            "items_out": self.items_out,
            "skipped_total": int(sum(self.skipped.values())),
            "skipped": dict(sorted(self.skipped.items())),
            "seconds": round(time.perf_counter() - self.started, 3),
            **self.extra,
        }

    def write(self, path: str | Path) -> dict[str, Any]:
        """Write the metrics JSON atomically and return what was written."""
        data = self.to_dict()
        write_json(path, data)
        log.info("metrics", stage=self.stage, **{k: v for k, v in data.items() if not isinstance(v, dict)})
        return data
