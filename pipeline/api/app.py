"""The FastAPI application: try-on, health and batch endpoints around one loaded engine.

The engine is loaded once, at startup; a missing model leaves the server up with
``/health`` saying ``model_loaded: false`` and ``/tryon`` answering 503 with the fix.
Inference runs on :class:`~pipeline.api.inference.InferencePool` threads, never on the
event loop; image decoding and encoding run on Starlette's thread pool.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse
from PIL import Image
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from pipeline.api.body_limit import BodySizeLimit
from pipeline.api.batch import BatchJobs, ShuttingDown
from pipeline.api.config import ApiConfig
from pipeline.api.encoding import encode_result, encode_result_bytes
from pipeline.api.errors import ApiError, install_error_handlers
from pipeline.api.fetch_guard import UrlRefused, check_url
from pipeline.api.inference import InferencePool, QueueFull
from pipeline.api.rate_limit import RateLimit
from pipeline.api.schemas import (BatchAccepted, BatchRequest, BatchStatus, ErrorResponse, HealthResponse,
                                  TryOnOptions, TryOnResponse)
from pipeline.api.uploads import FORM_OVERHEAD, PixelBudget, read_upload
from pipeline.api.webpage import Examples, install_webpage
from pipeline.infer.engine import TryOnEngine
from pipeline.infer.types import EngineConfig, TryOnError
from pipeline.io.images import ImageLimits
from pipeline.log import get_logger

log = get_logger(__name__)

EngineFactory = Callable[[], TryOnEngine]
API_PREFIX = "/api/v1"


def package_version() -> str:
    """The installed project version (``0+unknown`` when run from a bare checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vesaki-vton")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass
class ServerState:
    """What the endpoints share: the engine (or why there is none), the pool and the job table."""

    config: ApiConfig
    limits: ImageLimits
    pool: InferencePool
    jobs: BatchJobs
    decode_budget: PixelBudget
    engine: TryOnEngine | None = None
    load_error: str = "the model is still loading"
    version: str = field(default_factory=package_version)

    def require_engine(self) -> TryOnEngine:
        """The engine, or 503 ``model_not_loaded`` with the sentence saying how to provide one."""
        if self.engine is None:
            raise ApiError(503, "model_not_loaded", self.load_error)
        return self.engine

    def resolve_options(self, options: TryOnOptions) -> tuple[str, int, bool]:
        """(format, quality, return_mask) with the config's defaults filled in."""
        return (options.output_format or self.config.default_output_format,
                options.quality or self.config.default_quality, options.return_mask)

    def run_pair_blocking(self, options: TryOnOptions) -> Callable[[Image.Image, Image.Image], dict[str, Any]]:
        """A batch job's try-on: waits for a pool slot instead of failing when the line is full."""
        fmt, quality, return_mask = self.resolve_options(options)

        def run(person: Image.Image, garment: Image.Image) -> dict[str, Any]:
            engine = self.require_engine()
            while True:
                if self.jobs.stopping:
                    raise ShuttingDown()
                try:
                    future = self.pool.submit(engine.tryon, person, garment, options.category, wait=True, timeout=1.0)
                    break
                except QueueFull:
                    continue
            result = future.result()
            return encode_result_bytes(result, fmt, quality, return_mask)

        return run


class ClientGone(Exception):
    """The client disconnected before its try-on started; the queued work was dropped."""


async def _unless_client_gone(request: Request, future: "Future[Any]", timeout_s: float) -> Any:
    """The try-on's result; queued work whose client has disconnected is cancelled, so it stops holding a slot.

    Work already running cannot be interrupted (the models are not cancellable) and finishes.
    """
    waiting = asyncio.wrap_future(future)
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError()
        done, _ = await asyncio.wait({waiting}, timeout=min(0.25, left))
        if done:
            return waiting.result()
        if await request.is_disconnected() and future.cancel():
            log.info("client gone, queued try-on dropped", path=request.url.path)
            raise ClientGone()


def _job_not_found(job_id: str, config: ApiConfig) -> str:
    return (f"no batch job {job_id}: unknown, or expired (finished jobs are kept {config.batch.job_ttl_s:g}s, "
            "across restarts)")


def default_engine_factory(config: ApiConfig) -> EngineFactory:
    """Load the engine described by ``config.engine`` (see :class:`~pipeline.infer.EngineConfig`)."""
    return lambda: TryOnEngine.load(EngineConfig.from_dict(config.engine))


def _parse_options(raw: str | None) -> TryOnOptions:
    if raw is None or not raw.strip():
        return TryOnOptions()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid_options", f"options is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    except (ValueError, RecursionError) as exc:
        # A 5000-digit integer (Python's int-size guard) or JSON nested thousands deep.
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise ApiError(422, "invalid_options", f"options cannot be read ({what})") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_options", "options must be a JSON object")
    try:
        return TryOnOptions.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "invalid_options", details) from exc


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text} for code, text in {
        413: "upload or image over the configured limits (upload_too_large, image_too_large)",
        415: "a file whose bytes are not an image (unsupported_media_type)",
        422: "bad options, missing field, undecodable image, or a pair the engine rejects (no_person, ...)",
        503: "no model loaded (model_not_loaded) or the queue is full (queue_full, with Retry-After)",
        504: "the try-on did not finish within inference_timeout_s",
    }.items()
}


def create_app(config: ApiConfig | None = None, engine_factory: EngineFactory | None = None) -> FastAPI:
    """Build the application; the engine is loaded by ``engine_factory`` when the server starts."""
    config = config or ApiConfig()
    factory = engine_factory or default_engine_factory(config)
    limits = ImageLimits(min_side=config.min_image_side, max_pixels=config.max_image_pixels, max_side=config.max_image_side)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState(config, limits, InferencePool(config.workers, config.queue_size),
                            BatchJobs(config.batch, limits), PixelBudget(config.max_decoding_pixels))
        app.state.vton = state
        try:
            state.engine = await asyncio.to_thread(factory)
            log.info("model loaded", **{k: v for k, v in state.engine.info().items() if k != "pid"})
        except (FileNotFoundError, ValueError) as exc:
            # ModelNotFound is a FileNotFoundError whose message says how to get a model.
            state.load_error = str(exc)
            log.error("serving without a model", reason=state.load_error)
        except Exception as exc:  # noqa: BLE001 - a broken checkpoint must not keep the health endpoint down
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            state.load_error = (f"the model could not be loaded ({type(exc).__name__}: {first[:300]}); "
                                "check that --model points at a model written by this version of the training stages")
            log.error("serving without a model", reason=state.load_error, exc_info=True)
        try:
            yield
        finally:
            state.jobs.shutdown()
            state.pool.shutdown()
            if state.engine is not None:
                state.engine.close()

    app = FastAPI(title="Vesaki-VTON API", version=package_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Virtual try-on: upload a person photo and a garment shot, get the person wearing it.")
    install_error_handlers(app)
    install_webpage(app, API_PREFIX, Examples(config.examples))
    app.add_middleware(BodySizeLimit, max_bytes=2 * config.max_upload_bytes + FORM_OVERHEAD)
    if config.rate_limit_per_minute > 0:
        app.add_middleware(RateLimit, per_minute=config.rate_limit_per_minute, burst=config.rate_limit_burst,
                           paths=(f"{API_PREFIX}/tryon", f"{API_PREFIX}/batch"))

    def state_of(request: Request) -> ServerState:
        return request.app.state.vton

    @app.post(f"{API_PREFIX}/tryon", response_model=TryOnResponse, responses=_ERRORS, tags=["try-on"])
    async def tryon(request: Request,
                    person_image: UploadFile = File(description="photo of a person (JPEG, PNG, WebP...)"),
                    garment_image: UploadFile = File(description="in-shop shot of the garment on a plain background"),
                    options: str | None = Form(None, description='JSON, e.g. {"output_format": "png", "quality": 90, "return_mask": true}'),
                    ) -> TryOnResponse:
        """Dress the person in the garment; the result has the person photo's size."""
        t0 = time.perf_counter()
        state = state_of(request)
        form = await request.form()  # already parsed by FastAPI for the fields above: no second read
        for name in ("person_image", "garment_image", "options"):
            if len(form.getlist(name)) > 1:
                raise ApiError(422, "duplicate_field", f"{name} was sent {len(form.getlist(name))} times; send it once")
        opts = _parse_options(options)
        engine = state.require_engine()
        try:
            # The queue first: a refused request decodes nothing.
            slot = state.pool.reserve()
        except QueueFull:
            raise ApiError(503, "queue_full", f"{state.pool.capacity} try-ons are already running or waiting; retry shortly",
                           headers={"Retry-After": str(config.retry_after_s)}) from None
        try:
            with slot:
                person = await read_upload(person_image, "person_image", state.limits, config.max_upload_bytes,
                                           state.decode_budget, config.max_working_side)
                garment = await read_upload(garment_image, "garment_image", state.limits, config.max_upload_bytes,
                                            state.decode_budget, config.max_working_side)
                future = slot.submit(engine.tryon, person, garment, opts.category)
                result = await _unless_client_gone(request, future, config.inference_timeout_s)
        except ClientGone:
            return Response(status_code=499)  # nobody reads it (nginx's "client closed request")
        except TryOnError as exc:
            raise ApiError(422, exc.reason, exc.message) from exc
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"the try-on took over {config.inference_timeout_s}s") from None
        fmt, quality, return_mask = state.resolve_options(opts)
        encoded = await run_in_threadpool(encode_result, result, fmt, quality, return_mask)
        return TryOnResponse(processing_time=round(time.perf_counter() - t0, 4), **encoded)

    @app.get(f"{API_PREFIX}/health", response_model=HealthResponse, tags=["service"],
             responses={503: {"model": HealthResponse, "description": "no model loaded (status degraded)"}})
    async def health(request: Request, response: Response) -> HealthResponse:
        """Whether a model is loaded (HTTP 503 while none is), whether a GPU is visible, and the version."""
        import torch

        state = state_of(request)
        loaded = state.engine is not None
        if not loaded:
            response.status_code = 503
        meta = state.engine.models.metadata if loaded else {}
        return HealthResponse(status="ok" if loaded else "degraded", model_loaded=loaded, model=meta.get("model"),
                              model_source=meta.get("model_source"), gpu_available=torch.cuda.is_available(), version=state.version,
                              queue_in_flight=state.pool.in_flight, queue_capacity=state.pool.capacity,
                              detail=None if loaded else state.load_error)

    # Load balancers probe with HEAD: the same answer without a body (one operation in the docs).
    app.add_api_route(f"{API_PREFIX}/health", health, methods=["HEAD"], include_in_schema=False)

    @app.post(f"{API_PREFIX}/batch", response_model=BatchAccepted, status_code=202, responses=_ERRORS, tags=["batch"])
    async def batch(request: Request, body: BatchRequest) -> BatchAccepted:
        """Queue try-ons of image URL pairs; poll ``GET /api/v1/batch/{job_id}`` for the results."""
        state = state_of(request)
        if len(body.items) > config.batch.max_items:
            raise ApiError(422, "too_many_items", f"{len(body.items)} pairs; a job takes at most {config.batch.max_items}")
        urls = list(dict.fromkeys(u for item in body.items for u in (item.person_url, item.garment_url)))
        try:
            # Refused early for a clear answer; downloads check again (redirects, DNS changes).
            await run_in_threadpool(lambda: [check_url(u, config.batch.allow_private_urls) for u in urls])
        except UrlRefused as exc:
            raise ApiError(422, "url_refused", exc.message) from exc
        state.require_engine()
        return _queue(state, [(i.person_url, i.garment_url) for i in body.items], body.options)

    def _queue(state: ServerState, pairs: list[tuple[str, str]], options: TryOnOptions) -> BatchAccepted:
        try:
            job = state.jobs.submit(pairs, state.run_pair_blocking(options), options.model_dump(mode="json"))
        except QueueFull:
            raise ApiError(503, "queue_full", f"{config.batch.max_pending_jobs} batch jobs are already queued or running",
                           headers={"Retry-After": str(config.retry_after_s)}) from None
        return BatchAccepted(job_id=job.job_id, items=len(job.pairs))

    @app.post(f"{API_PREFIX}/batch/{{job_id}}/resume", response_model=BatchAccepted, status_code=202, responses=_ERRORS,
              tags=["batch"])
    async def batch_resume(request: Request, job_id: str) -> BatchAccepted:
        """Queue the items of an interrupted job that never ran, with its options, as a new job."""
        state = state_of(request)
        try:
            found = await run_in_threadpool(state.jobs.unfinished, job_id)
        except ValueError as exc:
            raise ApiError(409, "nothing_to_resume", str(exc)) from exc
        if found is None:
            raise ApiError(404, "job_not_found", _job_not_found(job_id, config))
        pairs, options = found
        state.require_engine()
        return _queue(state, pairs, TryOnOptions(**(options or {})))

    @app.get(f"{API_PREFIX}/batch/{{job_id}}", response_model=BatchStatus, responses={404: {"model": ErrorResponse}},
             tags=["batch"])
    async def batch_status(request: Request, job_id: str) -> BatchStatus:
        """Progress of a batch job and, per finished item, the URL of its result (or its error)."""
        job = await run_in_threadpool(state_of(request).jobs.get, job_id)
        if job is None:
            raise ApiError(404, "job_not_found", _job_not_found(job_id, config))
        base = f"{API_PREFIX}/batch/{job_id}/files"
        for item in job["items"]:
            item["result_url"] = f"{base}/{item['result_file']}" if item["result_file"] else None
            item["mask_url"] = f"{base}/{item['mask_file']}" if item["mask_file"] else None
        return BatchStatus(**job)

    @app.get(f"{API_PREFIX}/batch/{{job_id}}/files/{{name}}", tags=["batch"], responses={404: {"model": ErrorResponse}})
    async def batch_file(request: Request, job_id: str, name: str) -> FileResponse:
        """One result picture or mask of a batch job (the URLs ``GET /api/v1/batch/{job_id}`` lists)."""
        jobs = state_of(request).jobs
        job = await run_in_threadpool(jobs.get, job_id)
        if job is None:
            raise ApiError(404, "job_not_found", _job_not_found(job_id, config))
        # Only names the table holds are served: a client-chosen path never reaches the file system.
        known = {n for it in job["items"] for n in (it["result_file"], it["mask_file"]) if n}
        path = jobs.store.file(job_id, name) if name in known else None
        if path is None:
            raise ApiError(404, "not_found", f"job {job_id} has no file {name}")
        return FileResponse(path, media_type="image/png" if name.endswith(".png") else "image/jpeg")

    return app
