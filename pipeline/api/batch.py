"""Background batch jobs: download each pair of image URLs (through the SSRF guard), try it on, keep the results.

Jobs run one at a time on their own thread, item after item (the next items download
meanwhile); each try-on goes through the same inference pool as web requests. At most
``max_pending_jobs`` jobs are queued or running. Jobs, items and result files live in a
:class:`~pipeline.api.job_store.JobStore`, so they survive restarts and stay out of memory;
finished jobs are kept ``job_ttl_s`` seconds (at most ``max_kept_jobs`` of them and
``results_max_bytes`` of pictures) and then forgotten.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline.api.config import BatchConfig
from pipeline.api.errors import ApiError
from pipeline.api.fetch_guard import UrlRefused, check_url, guarded_session
from pipeline.api.inference import QueueFull
from pipeline.api.job_store import JobStore
from pipeline.api.uploads import decode_upload
from pipeline.infer.types import TryOnError
from pipeline.io.images import ImageLimits
from pipeline.log import get_logger
from pipeline.scrape.config import HttpConfig
from pipeline.scrape.fetch import Fetcher, FetchError, HostThrottle

log = get_logger(__name__)


def default_results_dir() -> Path:
    """``$XDG_CACHE_HOME/vesaki-vton/batch`` (``~/.cache/...``): where jobs outlive the server by default."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "vesaki-vton" / "batch"

# (person, garment) -> {"image": bytes, "mask_png": bytes | None, "metadata"}; raises TryOnError or ApiError.
RunPair = Callable[[Image.Image, Image.Image], dict[str, Any]]


class ShuttingDown(Exception):
    """The server is stopping; the job ends where it is."""


@dataclass
class Job:
    """A job being worked on: what the runner needs (the table holds the rest)."""

    job_id: str
    pairs: list[tuple[str, str]]
    run_pair: RunPair


class BatchJobs:
    """The job table (:class:`~pipeline.api.job_store.JobStore`) and the thread that works through it."""

    def __init__(self, config: BatchConfig, image_limits: ImageLimits, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.image_limits = image_limits
        self._clock = clock
        results = Path(config.results_dir).expanduser() if config.results_dir else default_results_dir()
        db = Path(config.store_path).expanduser() if config.store_path else results / "jobs.sqlite"
        self.store = JobStore(db, results, config.results_max_bytes)
        interrupted = self.store.mark_interrupted(clock(), config.job_ttl_s)
        if interrupted:
            log.warning("batch jobs interrupted by the last stop", jobs=len(interrupted), ids=",".join(interrupted[:10]))
        self._submit_lock = threading.Lock()
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

    def submit(self, pairs: list[tuple[str, str]], run_pair: RunPair, options: dict[str, Any] | None = None) -> Job:
        """Queue a job; raises :class:`QueueFull` when ``max_pending_jobs`` are already queued or running.
        ``options`` (the request's, as JSON) are kept with it for :meth:`unfinished`'s resubmission."""
        with self._submit_lock:
            self.store.purge(self._clock(), self.config.max_kept_jobs)
            if self.store.count_active() >= self.config.max_pending_jobs:
                raise QueueFull()
            job = Job(uuid.uuid4().hex, list(pairs), run_pair)
            self.store.create(job.job_id, job.pairs, self._clock(), options)
        self._executor.submit(self._run, job)
        log.info("batch job queued", job_id=job.job_id, items=len(pairs))
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job as stored (items with their result file names), or None when unknown or expired."""
        self.store.purge(self._clock(), self.config.max_kept_jobs)
        return self.store.get(job_id)

    def unfinished(self, job_id: str) -> tuple[list[tuple[str, str]], dict[str, Any] | None] | None:
        """(pairs, options) of an interrupted job's items that never ran, to submit again; None when the job is
        unknown. Raises ``ValueError`` when it is not interrupted or left nothing unfinished."""
        job = self.get(job_id)
        if job is None:
            return None
        if job["status"] != "interrupted":
            raise ValueError(f"job {job_id} is {job['status']}: only an interrupted job has items to resume")
        pairs = [(it["person_url"], it["garment_url"]) for it in job["items"] if it["status"] == "interrupted"]
        if not pairs:
            raise ValueError(f"job {job_id} left no unfinished items")
        return pairs, job["options"]

    def shutdown(self) -> None:
        """Stop after the current item; the running and queued jobs end ``interrupted``, with each item that never
        ran marked so (a crash leaves that to the next start, :meth:`JobStore.mark_interrupted`)."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.store.mark_interrupted(self._clock(), self.config.job_ttl_s)
        self.store.close()

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

    def _fetch_pair(self, pair: tuple[str, str], throttle: HostThrottle) -> tuple[Image.Image, Image.Image]:
        """Both pictures of a pair (in a download thread; each download has its own deadline)."""
        with guarded_session(self.config.allow_private_urls) as session:
            fetcher = Fetcher(self._http, throttle=throttle, session=session)
            return (self._download(fetcher, pair[0], "person image"), self._download(fetcher, pair[1], "garment image"))

    def _run_item(self, job: Job, index: int, pictures: "Future[tuple[Image.Image, Image.Image]]", t0: float) -> None:
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
            # Not an error of the item: it never ran. It ends "interrupted" and can be resubmitted.
            self.store.interrupt_item(job.job_id, index)
            return
        except Exception as exc:  # noqa: BLE001 - one bad item must not end the job
            log.error("batch item failed", job_id=job.job_id, index=index, error=repr(exc), exc_info=True)
            error = {"code": "internal_error", "message": "this item failed on the server; see its log"}
        seconds = round(time.perf_counter() - t0, 4)
        if encoded is not None:
            ext = "png" if encoded["metadata"].get("output_format") == "png" else "jpg"
            self.store.finish_item(job.job_id, index, processing_time=seconds, result=encoded["image"], result_ext=ext,
                                   mask=encoded.get("mask_png"), metadata=encoded["metadata"])
        else:
            self.store.finish_item(job.job_id, index, processing_time=seconds, error=error)
            log.info("batch item failed", job_id=job.job_id, index=index, code=error["code"] if error else "")

    def _run(self, job: Job) -> None:
        self.store.set_status(job.job_id, "running")
        ahead = self.config.download_workers
        throttle = HostThrottle()
        downloads = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="vton-download")
        try:
            # Up to `ahead` items download while the current one is tried on: a slow server costs
            # its own items their deadline, not the whole job its time; memory stays bounded.
            pending: dict[int, tuple["Future[tuple[Image.Image, Image.Image]]", float]] = {}
            for k in range(len(job.pairs)):
                if self._stop.is_set():
                    break  # the rest stay pending; shutdown marks them interrupted
                for j in range(k, min(len(job.pairs), k + ahead)):
                    if j not in pending:
                        pending[j] = (downloads.submit(self._fetch_pair, job.pairs[j], throttle), time.perf_counter())
                future, started = pending.pop(k)
                self._run_item(job, k, future, started)
        finally:
            downloads.shutdown(wait=True, cancel_futures=True)
            if not self._stop.is_set():
                now = self._clock()
                self.store.finish(job.job_id, now, now + self.config.job_ttl_s)
                log.info("batch job done", job_id=job.job_id, items=len(job.pairs))
