"""One polite HTTP GET: throttled per host, retried with backoff, redirects and size checked.

Every failure becomes a :class:`FetchError` with a short ``reason`` slug that the
crawler counts; ``transient`` failures (timeouts, 5xx, 429, refused connections)
are retried here and are not remembered across runs, permanent ones are.
"""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from pipeline.log import get_logger
from pipeline.scrape.config import HttpConfig

log = get_logger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
PAGE_TYPES = ("text/html", "application/xhtml+xml")
# Servers often label images generically; content sniffing decides afterwards.
IMAGE_TYPES = ("image/", "application/octet-stream", "binary/octet-stream", "")
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
IMAGE_ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5"
CHUNK = 64 * 1024


class FetchError(Exception):
    """A URL that could not be fetched; ``reason`` is a metrics slug."""

    def __init__(self, reason: str, detail: str = "", *, status: int | None = None,
                 transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchResult:
    """A successful download."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes


class HostThrottle:
    """Keeps at least ``delay`` seconds between the starts of two requests to the same host."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._last: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self, host: str, delay: float) -> None:
        """Sleep until ``host`` may be contacted again, then mark it as contacted now."""
        with self._lock:
            last = self._last.get(host)
            now = self._clock()
            if last is not None and delay > 0 and now - last < delay:
                self._sleep(delay - (now - last))
                now = self._clock()
            self._last[host] = now


def parse_retry_after(value: str | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _shut_down_socket(resp: requests.Response) -> None:
    """Shut the response's socket down (both ways) so a read blocked on it returns; best effort."""
    raw = resp.raw
    for path in (("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: Any = raw
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, socket.socket):
            try:
                obj.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return


class Fetcher:
    """GETs URLs with one source's HTTP manners; share ``throttle`` between fetchers."""

    def __init__(self, http: HttpConfig, throttle: HostThrottle | None = None,
                 session: requests.Session | None = None) -> None:
        self.http = http
        self.throttle = throttle or HostThrottle()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = http.user_agent
        self._host_delay: dict[str, float] = {}
        self._host_failures: dict[str, int] = {}
        self.requests_made = 0

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        """Honour a robots.txt Crawl-delay for ``host`` (capped by ``max_wait_s``)."""
        if seconds is not None:
            self._host_delay[host] = max(self.http.per_host_delay_s, min(seconds, self.http.max_wait_s))

    def get(self, url: str, *, max_bytes: int, accept: tuple[str, ...] | None,
            check: Callable[[str], str | None] | None = None, kind: str = "page") -> FetchResult:
        """Fetch ``url`` or raise :class:`FetchError`.

        ``accept`` lists allowed Content-Type prefixes (None: anything); ``check``
        vets every redirect target and returns a reason slug to refuse it.
        """
        attempt = 0
        while True:
            try:
                return self._follow(url, max_bytes=max_bytes, accept=accept, check=check, kind=kind)
            except FetchError as exc:
                if not exc.transient or attempt >= self.http.retries:
                    raise
                if exc.retry_after is not None:
                    wait = min(exc.retry_after, self.http.max_wait_s)
                else:
                    wait = min(self.http.backoff_s * (2 ** attempt), self.http.backoff_max_s)
                attempt += 1
                log.info("retry", url=url, reason=exc.reason, attempt=attempt, wait_s=round(wait, 3))
                if wait > 0:
                    time.sleep(wait)

    def _follow(self, url: str, *, max_bytes: int, accept: tuple[str, ...] | None,
                check: Callable[[str], str | None] | None, kind: str) -> FetchResult:
        seen = {url}
        current = url
        for _hop in range(self.http.max_redirects + 1):
            outcome = self._once(current, max_bytes=max_bytes, accept=accept, kind=kind)
            if isinstance(outcome, FetchResult):
                return FetchResult(url, outcome.final_url, outcome.status, outcome.content_type, outcome.body)
            target = urljoin(current, outcome)
            if target in seen:
                raise FetchError("redirect_loop", f"{current} -> {target}")
            if check is not None:
                refusal = check(target)
                if refusal:
                    raise FetchError(refusal, f"redirect to {target}")
            seen.add(target)
            current = target
        raise FetchError("too_many_redirects", f"more than {self.http.max_redirects} from {url}")

    def _once(self, url: str, *, max_bytes: int, accept: tuple[str, ...] | None, kind: str) -> FetchResult | str:
        """One request; returns the result, or the Location of a redirect."""
        host = urlsplit(url).netloc.lower()
        if self._host_failures.get(host, 0) >= self.http.max_host_failures:
            raise FetchError("unreachable", f"{host} failed {self._host_failures[host]} times in a row; given up")
        self.throttle.wait(host, self._host_delay.get(host, self.http.per_host_delay_s))
        self.requests_made += 1
        headers = {"Accept": IMAGE_ACCEPT if kind == "image" else PAGE_ACCEPT}
        try:
            resp = self.session.get(url, stream=True, allow_redirects=False, headers=headers,
                                    timeout=(self.http.connect_timeout_s, self.http.read_timeout_s))
        except requests.exceptions.Timeout as exc:
            self._host_failures[host] = self._host_failures.get(host, 0) + 1
            raise FetchError("timeout", str(exc)[:200], transient=True) from exc
        except requests.exceptions.ConnectionError as exc:
            self._host_failures[host] = self._host_failures.get(host, 0) + 1
            raise FetchError("unreachable", str(exc)[:200], transient=True) from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, ValueError) as exc:
            raise FetchError("bad_url", str(exc)[:200]) from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError("http_error", str(exc)[:200], transient=True) from exc
        self._host_failures[host] = 0
        try:
            return self._read(resp, url, max_bytes=max_bytes, accept=accept)
        finally:
            # Closing without draining drops the connection, so an aborted body is not read on.
            resp.close()

    def _read(self, resp: requests.Response, url: str, *, max_bytes: int,
              accept: tuple[str, ...] | None) -> FetchResult | str:
        status = resp.status_code
        if resp.is_redirect:
            return resp.headers["Location"]
        if status >= 300:
            retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status in RETRY_AFTER_STATUSES else None
            raise FetchError(f"http_{status}", url, status=status, transient=status in RETRY_STATUSES,
                             retry_after=retry_after)
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if accept is not None and not any(ctype.startswith(a) if a else ctype == "" for a in accept):
            raise FetchError("wrong_content_type", f"{ctype or 'none'} at {url}", status=status)
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError("body_too_large", f"Content-Length {declared} > {max_bytes}", status=status)
        body = bytearray()
        deadline = time.monotonic() + self.http.body_timeout_s
        # A server that stops sending altogether has its socket shut down at the deadline, which
        # wakes the blocked read; one that drips bytes is caught by the check after each read.
        watchdog = threading.Timer(self.http.body_timeout_s, _shut_down_socket, (resp,))
        watchdog.daemon = True
        watchdog.start()
        try:
            while True:
                # read1 returns what has arrived (up to CHUNK) instead of waiting for a full chunk, as
                # iter_content does: a server dripping one byte a second would otherwise outlast any deadline.
                chunk = resp.raw.read1(CHUNK, decode_content=True)
                if time.monotonic() > deadline:
                    raise FetchError("timeout", f"body took over {self.http.body_timeout_s}s", status=status)
                if not chunk:
                    break
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError("body_too_large", f"more than {max_bytes} bytes streamed", status=status)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() > deadline:
                # The wall-clock limit is the whole body's: retrying would double it.
                raise FetchError("timeout", f"body took over {self.http.body_timeout_s}s", status=status) from exc
            # A read timeout mid-body surfaces as urllib3's ReadTimeoutError (or requests' wrapper of it).
            reason = "timeout" if "timed out" in str(exc).lower() else "broken_body"
            raise FetchError(reason, str(exc)[:200], status=status, transient=True) from exc
        finally:
            watchdog.cancel()
        return FetchResult(url, resp.url or url, status, ctype, bytes(body))
