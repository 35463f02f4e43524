"""The annotation worker pool: results per item, counted failures, crashed workers, broken set-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import pytest

from pipeline.annotate.parallel import ItemResult, WorkerInitError, record, run_items
from pipeline.stage_metrics import StageMetrics


@dataclass(frozen=True)
class _Job:
    """Squares numbers; 3 raises, 5 kills its worker process, init can fail."""

    fail_init: bool = False

    def __call__(self) -> Callable[[int], ItemResult]:
        if self.fail_init:
            raise FileNotFoundError("weights missing: set parse.onnx_model_path")
        pid = os.getpid()

        def run(n: int) -> ItemResult:
            if n == 3:
                raise ValueError("odd picture")
            if n == 5 and pid != os.getppid():
                os._exit(1)  # a native crash takes the worker down
            return ItemResult(str(n), ok=True, flags=("even",) if n % 2 == 0 else ())

        return run


@pytest.mark.parametrize("workers", [1, 2])
def test_results_and_counted_errors(workers: int) -> None:
    items = [0, 1, 2, 3, 4, 6]
    results = {r.name: r for r in run_items(items, _Job(), workers=workers, progress=False)}
    assert set(results) == {str(i) for i in items}
    assert results["3"].reason == "unexpected_error" and "odd picture" in results["3"].detail
    metrics = StageMetrics("t")
    for r in results.values():
        record(metrics, r)
    assert metrics.items_out == 5 and metrics.skipped["unexpected_error"] == 1
    assert metrics.extra["flags"] == {"even": 4}


def test_a_crashing_worker_costs_only_its_item() -> None:
    items = list(range(12))
    items.remove(3)
    results = {r.name: r for r in run_items(items, _Job(), workers=2, progress=False)}
    assert set(results) == {str(i) for i in items}
    assert results["5"].reason == "worker_crashed"
    assert sum(r.ok for r in results.values()) == len(items) - 1  # bystanders are retried alone


@pytest.mark.parametrize("workers", [1, 2])
def test_broken_setup_stops_the_run_with_its_message(workers: int) -> None:
    with pytest.raises(WorkerInitError, match="parse.onnx_model_path"):
        list(run_items([1, 2, 4], _Job(fail_init=True), workers=workers, progress=False))
