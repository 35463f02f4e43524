"""Run try-ons on the loaded engine from a fixed pool of worker threads behind a bounded queue.

The event loop never runs a model: requests hand their pair to the pool and await the
result. The pool is the only caller of the engine, so the number of try-ons in flight
is bounded (``workers`` running + ``queue_size`` waiting); when it is full, web requests
are refused at once (503) while batch jobs wait for a free slot.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class QueueFull(Exception):
    """Every worker is busy and the waiting line is full."""


class InferencePool:
    """``workers`` threads (the engine's own locks keep its models consistent) and a bounded line."""

    def __init__(self, workers: int = 1, queue_size: int = 8) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("workers must be >= 1 and queue_size >= 0")
        self.capacity = workers + queue_size
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vton-infer")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Try-ons running or waiting now."""
        return self._in_flight

    def submit(self, fn: Callable[..., T], *args: Any, wait: bool = False, timeout: float | None = None) -> "Future[T]":
        """Queue ``fn(*args)`` on a worker; raises :class:`QueueFull` when no slot is free (after ``timeout`` if ``wait``)."""
        self._take_slot(wait, timeout)
        return self._submit_reserved(fn, *args)

    def _take_slot(self, wait: bool = False, timeout: float | None = None) -> None:
        if not self._slots.acquire(blocking=wait, timeout=timeout if wait else None):
            raise QueueFull()
        with self._lock:
            self._in_flight += 1

    def _release(self, _: object) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()

    def reserve(self) -> "Reservation":
        """Take a slot now (or raise :class:`QueueFull`) for work whose inputs are still to be prepared.

        A request checks the queue before it decodes its uploads, so a refused request costs
        nothing; :meth:`Reservation.run` then uses the slot, and closing it unused gives it back.
        """
        self._take_slot()
        return Reservation(self)

    def _submit_reserved(self, fn: Callable[..., T], *args: Any) -> "Future[T]":
        """Run ``fn(*args)`` in a slot already taken; the slot is given back when it ends."""
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Await ``fn(*args)`` on a worker without blocking the event loop; :class:`QueueFull` when full."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self) -> None:
        """Let running try-ons finish, drop the waiting ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class Reservation:
    """A slot taken by :meth:`InferencePool.reserve`: used once by :meth:`run`, or given back by :meth:`close`."""

    def __init__(self, pool: InferencePool) -> None:
        self._pool: InferencePool | None = pool

    def submit(self, fn: Callable[..., T], *args: Any) -> "Future[T]":
        """Queue ``fn(*args)`` in the reserved slot; the slot is freed when it ends (or is cancelled unstarted)."""
        if self._pool is None:
            raise RuntimeError("this reservation was already used or closed")
        pool, self._pool = self._pool, None
        return pool._submit_reserved(fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Await ``fn(*args)`` on a worker in the reserved slot."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def close(self) -> None:
        """Give the slot back if :meth:`run` never used it."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool._release(None)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
