"""Run a per-image job over many images in worker processes that load their models once.

A *job factory* is a small picklable object; calling it (once per worker, in
the worker) loads the models and returns the per-item function. Each item
yields an :class:`ItemResult`; an item that raises is turned into a counted
``unexpected_error`` result, so one odd image never stops a run. A factory
that cannot build (missing model file) stops the whole run with its message,
since every item would fail the same way.

Workers are *spawned*, not forked: MediaPipe and PyTorch hold threads and
native state that a fork would copy in a broken state.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from pipeline.log import configure_logging, get_logger
from pipeline.stage_metrics import StageMetrics

log = get_logger(__name__)

T = TypeVar("T")

_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class ItemResult:
    """Outcome of one item: ``ok``, or a skip ``reason`` slug with a detail; ``flags`` are counted facts."""

    name: str
    ok: bool
    reason: str = ""
    detail: str = ""
    flags: tuple[str, ...] = ()
    fatal: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def skipped(cls, name: str, reason: str, detail: str = "", flags: tuple[str, ...] = ()) -> "ItemResult":
        """A counted skip."""
        return cls(name=name, ok=False, reason=reason, detail=detail, flags=flags)


class JobFactory(Protocol[T]):
    """Picklable; called once per worker to load models and return the per-item function."""

    def __call__(self) -> Callable[[T], ItemResult]: ...


class WorkerInitError(RuntimeError):
    """The job could not be set up (the message says which param or file is wrong)."""


_JOB: Callable[[Any], ItemResult] | None = None
_INIT_ERROR: str | None = None


def _init_worker(factory: JobFactory[Any], threads: int, log_level: str | None) -> None:
    global _JOB, _INIT_ERROR
    configure_logging(log_level)
    _limit_threads(threads)
    try:
        _JOB = factory()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        _INIT_ERROR = f"{type(exc).__name__}: {exc}"


def _limit_threads(threads: int) -> None:
    """Keep each worker to its share of the cores (native libraries default to all of them)."""
    import sys

    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - cv2 is a dependency
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _run_one(item: Any) -> ItemResult:
    name = _item_name(item)
    if _INIT_ERROR is not None or _JOB is None:
        return ItemResult(name=name, ok=False, reason="worker_init_failed", detail=_INIT_ERROR or "", fatal=True)
    try:
        return _JOB(item)
    except Exception as exc:  # noqa: BLE001 - one bad image must not end the run
        log.error("item failed", item=name, error=f"{type(exc).__name__}: {exc}")
        log.debug("traceback", item=name, tb=traceback.format_exc())
        return ItemResult(name=name, ok=False, reason="unexpected_error", detail=f"{type(exc).__name__}: {exc}")


def _item_name(item: Any) -> str:
    return str(getattr(item, "name", item))


def run_items(
    items: Sequence[T],
    factory: JobFactory[T],
    workers: int = 1,
    desc: str = "items",
    progress: bool = True,
) -> Iterator[ItemResult]:
    """Yield one :class:`ItemResult` per item (in completion order).

    ``workers=1`` runs in this process; more start that many spawned worker
    processes, each calling ``factory`` once. Raises :class:`WorkerInitError`
    when the factory fails.
    """
    workers = max(1, int(workers))
    if not items:
        return
    if workers == 1:
        global _JOB, _INIT_ERROR
        try:
            job = factory()
        except Exception as exc:
            raise WorkerInitError(f"{type(exc).__name__}: {exc}") from exc
        saved, _JOB, _INIT_ERROR = _JOB, job, None
        try:
            for item in tqdm(items, desc=desc, unit="img", disable=not progress):
                yield _run_one(item)
        finally:
            _JOB = saved
            _close(job)
        return

    threads = max(1, (os.cpu_count() or 1) // workers)
    saved_env = {k: os.environ.get(k) for k in _THREAD_ENV}
    os.environ.update({k: str(threads) for k in _THREAD_ENV})  # inherited by the spawned workers
    try:
        with tqdm(total=len(items), desc=desc, unit="img", disable=not progress) as bar:
            for res in _run_in_pool(items, factory, workers, threads):
                bar.update(1)
                yield res
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_in_pool(items: Sequence[T], factory: JobFactory[T], workers: int, threads: int) -> Iterator[ItemResult]:
    """Feed a spawned process pool a few items at a time; survive workers that die.

    A worker killed mid-item (a native crash, the OOM killer) breaks the whole
    pool, and every item then in flight is lost with it. Those items are retried
    once in a fresh pool; an item lost twice is counted as ``worker_crashed``.
    Pools that keep breaking before finishing anything mean workers die on
    start-up, which no retry will fix, so the run stops.
    """
    ctx = mp.get_context("spawn")
    level = os.environ.get("VTON_LOG_LEVEL")
    pending: deque[tuple[T, int]] = deque((item, 0) for item in items)
    barren = 0  # pools in a row that broke without finishing an item
    while pending:
        finished = 0
        in_flight: dict[Future[ItemResult], tuple[T, int]] = {}
        executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(factory, threads, level))
        try:
            while pending or in_flight:
                while pending and len(in_flight) < 2 * workers:
                    # A retried item runs alone, so a second death is its own.
                    solo = pending[0][1] > 0
                    if in_flight and (solo or any(t > 0 for _, t in in_flight.values())):
                        break
                    entry = pending.popleft()
                    in_flight[executor.submit(_run_one, entry[0])] = entry
                    if solo:
                        break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = fut.result()  # BrokenProcessPool leaves the item in in_flight
                    in_flight.pop(fut)
                    if res.fatal:
                        raise WorkerInitError(res.detail)
                    finished += 1
                    yield res
        except BrokenProcessPool:
            lost = list(in_flight.values())
            if any(tries == 0 for _, tries in lost):
                barren = barren + 1 if finished == 0 else 0
            if barren >= 3:
                raise WorkerInitError("worker processes die on start-up (see the log above)") from None
            for item, tries in lost:
                if tries == 0:
                    pending.appendleft((item, 1))
                else:
                    name = _item_name(item)
                    log.error("worker died twice on this item", item=name)
                    yield ItemResult(name=name, ok=False, reason="worker_crashed", detail="worker process died")
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


def _close(job: Any) -> None:
    close = getattr(job, "close", None)
    if callable(close):
        close()


def record(metrics: StageMetrics, result: ItemResult) -> None:
    """Count one result into the stage metrics (``flags`` go to ``extra['flags']``)."""
    if result.ok:
        metrics.items_out += 1
    else:
        metrics.skip(result.reason, result.name, result.detail)
    if result.flags:
        flags = metrics.extra.setdefault("flags", {})
        for flag in result.flags:
            flags[flag] = flags.get(flag, 0) + 1


def run_and_record(
    items: Sequence[T], factory: JobFactory[T], metrics: StageMetrics, workers: int, desc: str, progress: bool = True
) -> None:
    """:func:`run_items`, counting every result into ``metrics``."""
    metrics.items_in += len(items)
    for result in run_items(items, factory, workers=workers, desc=desc, progress=progress):
        record(metrics, result)

