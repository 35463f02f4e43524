"""What the REST API is configured with: limits, queue sizes, batch download policy, engine options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config_mapping import check_keys, from_mapping

OUTPUT_FORMATS = ("jpeg", "png")
MIN_QUALITY, MAX_QUALITY = 85, 100


@dataclass(frozen=True)
class BatchConfig:
    """Background batch jobs and how their images are downloaded."""

    max_items: int = 32  # pairs per job
    max_pending_jobs: int = 8  # queued + running; more is answered 503
    job_ttl_s: float = 3600.0  # finished jobs are forgotten this long after they end
    max_kept_jobs: int = 64  # finished jobs kept at most; the oldest go first
    results_dir: str = ""  # result pictures (<dir>/<job_id>/NNN.jpg); "" = ~/.cache/vesaki-vton/batch
    store_path: str = ""  # the SQLite job table; "" = <results_dir>/jobs.sqlite
    results_max_bytes: int = 2_000_000_000  # result files kept at most; the oldest finished jobs go first
    download_max_bytes: int = 15_000_000
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    download_timeout_s: float = 30.0  # wall clock for one body, so a dripping server cannot hold a job
    max_redirects: int = 3
    retries: int = 1
    per_host_delay_s: float = 0.0  # gap between two downloads from one host
    download_workers: int = 4  # downloads of a job's next items run this many at once, ahead of the try-ons
    # Off in production: URLs resolving to loopback/private addresses are refused (SSRF guard).
    # Link-local, multicast, reserved and unspecified addresses are refused even when it is on.
    allow_private_urls: bool = False
    user_agent: str = "vesaki-vton-api/0.1 (+batch try-on)"

    def __post_init__(self) -> None:
        if self.max_items < 1 or self.max_pending_jobs < 1 or self.max_kept_jobs < 1 or self.download_workers < 1:
            raise ValueError("batch.max_items, max_pending_jobs and max_kept_jobs must be >= 1")
        if self.download_max_bytes < 1 or self.max_redirects < 0 or self.retries < 0 or self.per_host_delay_s < 0:
            raise ValueError("batch.download_max_bytes must be >= 1; max_redirects, retries and per_host_delay_s >= 0")
        for name in ("job_ttl_s", "connect_timeout_s", "read_timeout_s", "download_timeout_s"):
            if float(getattr(self, name)) <= 0:
                raise ValueError(f"batch.{name} must be > 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BatchConfig":
        """Build from a mapping, rejecting unknown keys."""
        return from_mapping(cls, data, "api.batch")


@dataclass(frozen=True)
class ApiConfig:
    """Everything ``vton serve`` needs besides host and port.

    ``max_upload_bytes`` bounds each uploaded file (413 ``upload_too_large``); ``max_image_pixels``
    and ``max_image_side`` bound the decoded picture (413 ``image_too_large``, checked from the
    header before the pixels are decoded); ``min_image_side`` rejects thumbnails (422 ``image_too_small``).
    ``queue_size`` is how many try-ons may wait for the model besides the one running; beyond
    that the API answers 503 with ``Retry-After: retry_after_s``. ``engine`` holds
    :class:`~pipeline.infer.EngineConfig` options (``model``, ``backend``, ``device``, ``size``...).
    """

    max_upload_bytes: int = 10_000_000
    max_image_pixels: int = 25_000_000
    max_image_side: int = 8_000
    min_image_side: int = 32
    # Pixels being decoded at once across all requests (a 25 Mpx PNG costs ~0.3 GB while it decodes);
    # requests beyond it wait their turn instead of growing the server's memory.
    max_decoding_pixels: int = 50_000_000
    # Decoded photos are shrunk to this longest side at once (the models run far smaller; the
    # result then has the shrunk size). 0 keeps every photo at its own size.
    max_working_side: int = 2048
    workers: int = 1  # inference threads; the engine's own locks overlap one's annotation with another's model pass
    queue_size: int = 8
    retry_after_s: int = 5
    header_timeout_s: float = 10.0  # a request's headers must arrive within this (slowloris guard)
    body_timeout_s: float = 60.0  # ... and its body within this once the headers are in
    max_connections: int = 200  # open connections and tasks beyond this are answered 503 (uvicorn limit_concurrency)
    keep_alive_timeout_s: float = 5.0  # an idle keep-alive connection is closed after this
    rate_limit_per_minute: float = 0.0  # per client address on POST try-on and batch; 0 = off (see rate_limit.py)
    rate_limit_burst: int = 10
    inference_timeout_s: float = 120.0  # a request waiting longer (queue + run) gets 504
    examples: int = 4  # demo-shop example pairs the web page offers (rendered on first use); 0 = none
    default_output_format: str = "jpeg"
    default_quality: int = 95
    engine: dict[str, Any] = field(default_factory=dict)
    batch: BatchConfig = field(default_factory=BatchConfig)

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_image_pixels < 1 or self.max_image_side < 1:
            raise ValueError("max_upload_bytes, max_image_pixels and max_image_side must be >= 1")
        if self.max_decoding_pixels < self.max_image_pixels:
            raise ValueError("max_decoding_pixels must be at least max_image_pixels (one image must fit)")
        if self.max_working_side < 0:
            raise ValueError("max_working_side must be >= 0")
        if self.min_image_side < 1:
            raise ValueError("min_image_side must be >= 1")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if min(self.header_timeout_s, self.body_timeout_s, self.keep_alive_timeout_s) <= 0 or self.max_connections < 1:
            raise ValueError("header_timeout_s, body_timeout_s and keep_alive_timeout_s must be > 0, max_connections >= 1")
        if self.queue_size < 0 or self.retry_after_s < 0 or self.inference_timeout_s <= 0:
            raise ValueError("queue_size and retry_after_s must be >= 0, inference_timeout_s > 0")
        if self.default_output_format not in OUTPUT_FORMATS:
            raise ValueError(f"default_output_format must be one of {OUTPUT_FORMATS}")
        if not MIN_QUALITY <= self.default_quality <= MAX_QUALITY:
            raise ValueError(f"default_quality must be within {MIN_QUALITY}..{MAX_QUALITY}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ApiConfig":
        """Build from a mapping (e.g. the ``api`` block of a YAML file), rejecting unknown keys."""
        data = dict(data or {})
        check_keys(cls, data, "api")
        if "batch" in data:
            data["batch"] = BatchConfig.from_dict(dict(data["batch"] or {}))
        if "engine" in data:
            data["engine"] = dict(data["engine"] or {})
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ApiConfig":
        """Read a YAML file holding the options at top level or under an ``api:`` key."""
        import yaml

        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ValueError(f"cannot read API config {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ValueError(f"API config {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"API config {path} must hold a mapping")
        if set(loaded) == {"api"}:
            loaded = loaded["api"] or {}
        return cls.from_dict(loaded)
