"""Background batch jobs: download each pair of image URLs (through the SSRF guard), try it on, keep the results.

Jobs run one at a time on their own thread, item after item; each try-on goes through the
same inference pool as web requests. At most ``max_pending_jobs`` jobs are queued or
running; finished jobs are kept ``job_ttl_s`` seconds (and at most ``max_kept_jobs`` of them,
since their results are held in memory) and then forgotten.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from pipeline.api.config import BatchConfig
from pipeline.api.errors import ApiError
from pipeline.api.fetch_guard import UrlRefused, check_url, guarded_session
from pipeline.api.inference import QueueFull
from pipeline.api.uploads import decode_upload
from pipeline.infer.types import TryOnError
from pipeline.io.images import ImageLimits
from pipeline.log import get_logger
from pipeline.scrape.config import HttpConfig
from pipeline.scrape.fetch import Fetcher, FetchError, HostThrottle

log = get_logger(__name__)

# (person, garment) -> {"result", "mask", "metadata"}; raises TryOnError or ApiError.
RunPair = Callable[[Image.Image, Image.Image], dict[str, Any]]


class ShuttingDown(Exception):
    """The server is stopping; the job ends where it is."""


@dataclass
class ItemState:
    """One pair of a job and what became of it."""

    index: int
    person_url: str
    garment_url: str
    status: str = "pending"  # pending | ok | error
    result: str | None = None
    mask: str | None = None
    processing_time: float | None = None
    metadata: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as reported by ``GET /api/v1/batch/{job_id}``."""
        return {"index": self.index, "status": self.status, "result": self.result, "mask": self.mask,
                "processing_time": self.processing_time, "metadata": self.metadata, "error": self.error}


@dataclass
class Job:
    """One batch request."""

    job_id: str
    items: list[ItemState]
    run_pair: RunPair
    created_at: float
    status: str = "queued"  # queued | running | done
    finished_at: float | None = None
    expires_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to_dict(self) -> dict[str, Any]:
        """A consistent snapshot of the job for a response."""
        with self.lock:
            items = [item.to_dict() for item in self.items]
            ok = sum(1 for item in self.items if item.status == "ok")
            failed = sum(1 for item in self.items if item.status == "error")
            return {"job_id": self.job_id, "status": self.status, "total": len(items), "completed": ok + failed,
                    "succeeded": ok, "failed": failed, "created_at": self.created_at,
                    "finished_at": self.finished_at, "expires_at": self.expires_at, "items": items}


class BatchJobs:
    """The job table and the thread that works through it."""

    def __init__(self, config: BatchConfig, image_limits: ImageLimits, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.image_limits = image_limits
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vton-batch")
        self._http = HttpConfig(user_agent=config.user_agent, connect_timeout_s=config.connect_timeout_s,
                                read_timeout_s=config.read_timeout_s, body_timeout_s=config.download_timeout_s,
                                retries=config.retries, backoff_s=0.2, backoff_max_s=2.0, max_wait_s=5.0,
                                max_redirects=config.max_redirects, per_host_delay_s=config.per_host_delay_s)
        self._http.validate()

    @property
    def stopping(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._stop.is_set()

    def submit(self, pairs: list[tuple[str, str]], run_pair: RunPair) -> Job:
        """Queue a job; raises :class:`QueueFull` when ``max_pending_jobs`` are already queued or running."""
        with self._lock:
            self._purge()
            active = sum(1 for job in self._jobs.values() if job.status != "done")
            if active >= self.config.max_pending_jobs:
                raise QueueFull()
            job = Job(uuid.uuid4().hex, [ItemState(i, p, g) for i, (p, g) in enumerate(pairs)], run_pair, self._clock())
            self._jobs[job.job_id] = job
        self._executor.submit(self._run, job)
        log.info("batch job queued", job_id=job.job_id, items=len(pairs))
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        with self._lock:
            self._purge()
            return self._jobs.get(job_id)

    def _purge(self) -> None:
        now = self._clock()
        for job_id in [j for j, job in self._jobs.items() if job.expires_at is not None and job.expires_at <= now]:
            del self._jobs[job_id]
        finished = sorted((job.finished_at or 0.0, job_id) for job_id, job in self._jobs.items() if job.status == "done")
        for _, job_id in finished[: max(0, len(finished) - self.config.max_kept_jobs)]:
            del self._jobs[job_id]

    def shutdown(self) -> None:
        """Stop after the current item; queued jobs are dropped."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ the worker thread

    def _download(self, fetcher: Fetcher, url: str, what: str) -> Image.Image:
        check_url(url, self.config.allow_private_urls)

        def redirect_check(target: str) -> str | None:
            try:
                check_url(target, self.config.allow_private_urls)
            except UrlRefused as exc:
                return f"url_refused ({exc.message})"
            return None

        result = fetcher.get(url, max_bytes=self.config.download_max_bytes, accept=None, check=redirect_check, kind="image")
        return decode_upload(result.body, what, self.image_limits, self.config.download_max_bytes)

    def _fetch_pair(self, item: ItemState, throttle: HostThrottle) -> tuple[Image.Image, Image.Image]:
        """Both pictures of ``item`` (in a download thread; each download has its own deadline)."""
        with guarded_session(self.config.allow_private_urls) as session:
            fetcher = Fetcher(self._http, throttle=throttle, session=session)
            return (self._download(fetcher, item.person_url, "person image"),
                    self._download(fetcher, item.garment_url, "garment image"))

    def _run_item(self, job: Job, item: ItemState, pictures: "Future[tuple[Image.Image, Image.Image]]", t0: float) -> None:
        error: dict[str, str] | None = None
        encoded: dict[str, Any] | None = None
        try:
            person, garment = pictures.result()
            encoded = job.run_pair(person, garment)
        except UrlRefused as exc:
            error = {"code": "url_refused", "message": exc.message}
        except FetchError as exc:
            if exc.reason.startswith("url_refused"):
                error = {"code": "url_refused", "message": f"{exc.reason}: {exc.detail}"}
            else:
                error = {"code": "download_failed", "message": f"{exc.reason}: {exc.detail}"[:500]}
        except ApiError as exc:
            error = {"code": exc.code, "message": exc.message}
        except TryOnError as exc:
            error = {"code": exc.reason, "message": exc.message}
        except ShuttingDown:
            error = {"code": "shutting_down", "message": "the server stopped before this item ran"}
        except Exception as exc:  # noqa: BLE001 - one bad item must not end the job
            log.error("batch item failed", job_id=job.job_id, index=item.index, error=repr(exc), exc_info=True)
            error = {"code": "internal_error", "message": "this item failed on the server; see its log"}
        with job.lock:
            item.processing_time = round(time.perf_counter() - t0, 4)
            if encoded is not None:
                item.status, item.result, item.mask, item.metadata = "ok", encoded["result"], encoded["mask"], encoded["metadata"]
            else:
                item.status, item.error = "error", error
        if error:
            log.info("batch item failed", job_id=job.job_id, index=item.index, code=error["code"])

    def _run(self, job: Job) -> None:
        with job.lock:
            job.status = "running"
        ahead = self.config.download_workers
        throttle = HostThrottle()
        downloads = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="vton-download")
        try:
            # Up to `ahead` items download while the current one is tried on: a slow server costs
            # its own items their deadline, not the whole job its time; memory stays bounded.
            pending: dict[int, tuple["Future[tuple[Image.Image, Image.Image]]", float]] = {}
            for k, item in enumerate(job.items):
                for j in range(k, min(len(job.items), k + ahead)):
                    if j not in pending:
                        pending[j] = (downloads.submit(self._fetch_pair, job.items[j], throttle), time.perf_counter())
                future, started = pending.pop(k)
                self._run_item(job, item, future, started)
        finally:
            downloads.shutdown(wait=True, cancel_futures=True)
            with job.lock:
                job.status = "done"
                job.finished_at = self._clock()
                job.expires_at = job.finished_at + self.config.job_ttl_s
            ok = sum(1 for item in job.items if item.status == "ok")
            log.info("batch job done", job_id=job.job_id, items=len(job.items), ok=ok)
