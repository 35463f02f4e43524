"""Crawl configured sources into ``images/`` + ``manifest.csv``, resumably.

Counting (``StageMetrics``): ``items_in`` is the number of product image slots
found (each image URL listed by a product page, up to
``max_images_per_product``; a URL listed twice counts twice and its second
occurrence is skipped as ``duplicate_url``), ``items_out`` the images kept, and
``items_in == items_out + sum of image skip reasons``. Page-level faults are
counted with a ``page_`` prefix (``page_http_404``, ``page_robots_disallowed``)
and are not part of that sum.

Resuming: every finished image URL is journaled (see :mod:`journal`). A later
run reuses kept images whose file is still in place and does not refetch URLs
that failed permanently (4xx, wrong type, undecodable, too small...) under the
same limits; transient failures (timeouts, 5xx, 429, unreachable hosts) and
robots refusals are tried again. Product pages are always fetched again, since
they are what tells which images belong to the catalogue now.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from tqdm import tqdm

from pipeline.io.images import ImageLimits, ImageRejected, decode_image
from pipeline.log import get_logger
from pipeline.scrape.config import ScrapeConfig, SourceConfig
from pipeline.scrape.dedup import Deduplicator, phash_hex
from pipeline.scrape.extract import Product, extract_page
from pipeline.scrape.fetch import IMAGE_TYPES, PAGE_TYPES, Fetcher, FetchError, HostThrottle
from pipeline.scrape.journal import Journal
from pipeline.scrape.manifest import IMAGES_DIR, manifest_frame, prune_images, write_manifest
from pipeline.scrape.robots import RobotsCache
from pipeline.scrape.storage import store_image
from pipeline.stage_metrics import StageMetrics

log = get_logger(__name__)

# Fetch failures worth remembering across runs; the rest may succeed next time.
_REMEMBERED = {"wrong_content_type", "body_too_large", "redirect_loop", "too_many_redirects",
               "offsite_redirect", "bad_url"}
_TRANSIENT_4XX = {"http_408", "http_429"}


def _remembered(reason: str) -> bool:
    return reason in _REMEMBERED or (reason.startswith("http_4") and reason not in _TRANSIENT_4XX)


@dataclass
class SourceStats:
    """Per-source counts reported in the stage metrics."""

    pages_fetched: int = 0
    pages_skipped: int = 0
    products: int = 0
    images_found: int = 0
    images_kept: int = 0
    images_fetched: int = 0
    images_reused: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counts as a plain dict."""
        return dict(self.__dict__)


@dataclass
class _Run:
    cfg: ScrapeConfig
    out_dir: Path
    metrics: StageMetrics
    path_root: Path
    journal: Journal
    dedup: Deduplicator
    throttle: HostThrottle = field(default_factory=HostThrottle)
    rows: list[dict[str, Any]] = field(default_factory=list)
    seen_urls: set[str] = field(default_factory=set)
    keep_entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def images_dir(self) -> Path:
        return self.out_dir / IMAGES_DIR


def crawl(cfg: ScrapeConfig, out_dir: str | os.PathLike[str], metrics: StageMetrics,
          *, path_root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Crawl every source of ``cfg`` into ``out_dir`` and return the manifest.

    ``path`` in the manifest is relative to ``path_root`` (default: the working
    directory, i.e. the repository root for stages) when the file lies under it.
    Faults are counted in ``metrics``; only an error of our own (disk full, a
    bug) escapes, and even then everything already downloaded stays journaled.
    """
    out_dir = Path(out_dir)
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    run = _Run(cfg=cfg, out_dir=out_dir, metrics=metrics, path_root=Path(path_root or Path.cwd()).resolve(),
               journal=Journal(out_dir), dedup=Deduplicator(cfg.phash_max_distance))
    per_source: dict[str, dict[str, int]] = {}
    try:
        for source in cfg.sources:
            per_source[source.name] = _crawl_source(run, source).as_dict()
        frame = manifest_frame(run.rows)
        write_manifest(frame, out_dir)
        prune_images(out_dir, keep={Path(p).name for p in frame["path"]})
        run.journal.rewrite(run.keep_entries.values())
    finally:
        run.journal.close()
    metrics.extra["sources"] = per_source
    for key in ("pages_fetched", "images_fetched", "images_reused", "requests"):
        metrics.extra[key] = sum(s[key] for s in per_source.values())
    log.info("crawl done", kept=len(frame), out=str(out_dir))
    return frame


def _crawl_source(run: _Run, source: SourceConfig) -> SourceStats:
    stats = SourceStats()
    fetcher = Fetcher(source.http, run.throttle)
    robots = RobotsCache(fetcher, source.http.user_agent, source.http.robots_unavailable)
    delay_known: set[str] = set()

    def refusal(url: str) -> str | None:
        if not source.allows(url):
            return "offsite_url"
        reason = robots.refusal(url)
        host = urlsplit(url).netloc.lower()
        if host not in delay_known:
            delay_known.add(host)
            fetcher.set_crawl_delay(host, robots.crawl_delay(url))
        return reason

    def redirect_refusal(url: str) -> str | None:
        reason = refusal(url)
        return "offsite_redirect" if reason == "offsite_url" else reason

    queue = deque(source.start_urls)
    queued = set(source.start_urls)
    kept = 0
    bar = tqdm(total=source.max_items, desc=f"scrape {source.name}", unit="img",
               disable=None if run.cfg.progress else True)
    try:
        while queue and stats.pages_fetched < source.max_pages and kept < source.max_items:
            url = queue.popleft()
            public_page = source.public_url(url)
            reason = refusal(url)
            if reason:
                stats.pages_skipped += 1
                run.metrics.skip(f"page_{reason}", public_page)
                continue
            try:
                page = fetcher.get(url, max_bytes=source.http.max_page_bytes, accept=PAGE_TYPES,
                                   check=redirect_refusal, kind="page")
                content = extract_page(page.body, page.final_url, source.mode, source.selectors)
            except FetchError as exc:
                stats.pages_skipped += 1
                run.metrics.skip(f"page_{exc.reason}", public_page, exc.detail)
                continue
            except Exception as exc:  # noqa: BLE001 - a page lxml cannot parse is the site's fault
                stats.pages_skipped += 1
                run.metrics.skip("page_unparseable", public_page, repr(exc))
                continue
            stats.pages_fetched += 1
            queued.add(page.final_url)  # a redirected page is not fetched again under its final URL
            if content.jsonld_errors:
                log.warning("bad json-ld", page=public_page, blocks=content.jsonld_errors)
            for reason, count in content.problems.items():
                # What the page offered but could not be used (auto mode): each one a counted skip.
                for _ in range(count):
                    run.metrics.skip(f"page_{reason}", public_page)
            for product in content.products:
                stats.products += 1
                for index, image_url in enumerate(product.image_urls[: source.max_images_per_product]):
                    if kept >= source.max_items:
                        break
                    if _process_image(run, source, fetcher, refusal, redirect_refusal, product, index, image_url, stats):
                        kept += 1
                        bar.update(1)
            for link in content.links:
                if link not in queued and source.allows(link):
                    queued.add(link)
                    queue.append(link)
    finally:
        bar.close()
        fetcher.session.close()
        stats.requests = fetcher.requests_made
    log.info("source done", source=source.name, **stats.as_dict())
    return stats


def _process_image(run: _Run, source: SourceConfig, fetcher: Fetcher, refusal: Any, redirect_refusal: Any,
                   product: Product, index: int, url: str, stats: SourceStats) -> bool:
    """Handle one image slot; True when the image is kept."""
    metrics = run.metrics
    public = source.public_url(url)
    metrics.items_in += 1
    stats.images_found += 1
    if public in run.seen_urls:
        metrics.skip("duplicate_url", public)
        return False
    run.seen_urls.add(public)
    raw_category = product.category
    context = {
        "source": source.name,
        "product_id": product.product_id,
        "product_name": product.name,
        "category": source.category_map.get(raw_category.lower(), raw_category) or source.default_category,
        "page_url": source.public_url(product.page_url),
        "image_url": public,
        "image_index": index,
    }
    limits_key = _limits_key(source, run.cfg.image_limits)

    entry = run.journal.get(public)
    if entry is not None:
        outcome = _reuse(run, source, entry, context, limits_key)
        if outcome is not None:
            if outcome:
                stats.images_reused += 1
                stats.images_kept += 1
            return outcome

    reason = refusal(url)
    if reason:
        metrics.skip(reason, public)
        return False
    try:
        result = fetcher.get(url, max_bytes=source.max_image_bytes, accept=IMAGE_TYPES,
                             check=redirect_refusal, kind="image")
    except FetchError as exc:
        metrics.skip(exc.reason, public, exc.detail)
        if _remembered(exc.reason):
            _journal(run, {"image_url": public, "status": "skipped", "reason": exc.reason, "limits": limits_key})
        return False
    stats.images_fetched += 1
    data = result.body
    sha = hashlib.sha256(data).hexdigest()
    try:
        img = decode_image(data, run.cfg.image_limits)
        phash = phash_hex(img)
    except ImageRejected as exc:
        metrics.skip(exc.reason, public, exc.detail)
        _journal(run, {"image_url": public, "status": "skipped", "reason": exc.reason, "limits": limits_key})
        return False
    except Exception as exc:  # noqa: BLE001 - Pillow raises odd types on hostile files
        metrics.skip("undecodable_image", public, repr(exc))
        _journal(run, {"image_url": public, "status": "skipped", "reason": "undecodable_image", "limits": limits_key})
        return False
    twin = run.dedup.match(sha, phash)
    if twin:
        metrics.skip(twin[0], public, f"same as {twin[1][:16]}")
        _journal(run, {"image_url": public, "status": "duplicate", "sha256": sha, "phash": phash})
        return False
    stored = store_image(data, img, sha, run.images_dir)
    run.dedup.add(sha, phash)
    file_path = run.images_dir / stored.name
    entry = {
        "image_url": public, "status": "kept", "sha256": sha, "phash": phash, "file": stored.name,
        "file_size": file_path.stat().st_size, "bytes": len(data), "width": stored.width,
        "height": stored.height, "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _journal(run, entry)
    _keep(run, context, entry)
    stats.images_kept += 1
    return True


def _reuse(run: _Run, source: SourceConfig, entry: dict[str, Any], context: dict[str, Any],
           limits_key: str) -> bool | None:
    """Settle an image slot from the journal: True kept, False skipped, None fetch it again."""
    status = entry.get("status")
    public = context["image_url"]
    if status == "kept":
        path = run.images_dir / str(entry.get("file", ""))
        if not (path.is_file() and path.stat().st_size == entry.get("file_size")):
            return None
        size_reason = _size_reason(int(entry["width"]), int(entry["height"]), run.cfg.image_limits)
        if int(entry.get("bytes", 0)) > source.max_image_bytes:
            size_reason = "body_too_large"
        if size_reason:
            run.metrics.skip(size_reason, public, "under the current limits (from journal)")
            run.keep_entries[public] = {"image_url": public, "status": "skipped", "reason": size_reason,
                                        "limits": limits_key}
            return False
        twin = run.dedup.match(entry["sha256"], entry["phash"])
        if twin:
            run.metrics.skip(twin[0], public, f"same as {twin[1][:16]} (from journal)")
            run.keep_entries[public] = {"image_url": public, "status": "duplicate", "sha256": entry["sha256"],
                                        "phash": entry["phash"]}
            return False
        run.dedup.add(entry["sha256"], entry["phash"])
        _keep(run, context, entry)
        return True
    if status == "skipped" and entry.get("limits") == limits_key:
        run.metrics.skip(str(entry["reason"]), public, "from journal")
        run.keep_entries[public] = entry
        return False
    if status == "duplicate":
        twin = run.dedup.match(entry["sha256"], entry["phash"])
        if twin:
            run.metrics.skip(twin[0], public, f"same as {twin[1][:16]} (from journal)")
            run.keep_entries[public] = entry
            return False
    return None


def _keep(run: _Run, context: dict[str, Any], entry: dict[str, Any]) -> None:
    path = (run.images_dir / entry["file"]).resolve()
    try:
        shown = path.relative_to(run.path_root).as_posix()
    except ValueError:
        shown = path.as_posix()
    run.rows.append({**context, "path": shown, "sha256": entry["sha256"], "phash": entry["phash"],
                     "width": int(entry["width"]), "height": int(entry["height"]),
                     "fetched_at": entry["fetched_at"]})
    run.keep_entries[context["image_url"]] = entry
    run.metrics.items_out += 1


def _journal(run: _Run, entry: dict[str, Any]) -> None:
    run.journal.record(entry)
    run.keep_entries[entry["image_url"]] = entry


def _limits_key(source: SourceConfig, limits: ImageLimits) -> str:
    """Fingerprint of the limits a skip was judged under; other limits mean judge again."""
    return f"{source.max_image_bytes}/{limits.min_side}/{limits.max_side}/{limits.max_pixels}"


def _size_reason(width: int, height: int, limits: ImageLimits) -> str | None:
    if min(width, height) < limits.min_side:
        return "too_small"
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        return "too_large"
    return None
