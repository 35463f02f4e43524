"""An optional per-client rate limit on the try-on and batch endpoints (off by default).

A token bucket per client address: ``per_minute`` requests a minute on average, with bursts of
up to ``burst``. Behind a reverse proxy every request comes from the proxy's address, so there
the proxy's own limit (nginx ``limit_req``) is the one to use; this one is for a server that
faces its clients directly.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.api.errors import error_body

_MAX_CLIENTS = 10_000  # buckets kept; the least recently seen clients are forgotten first


class TokenBuckets:
    """Per-key token buckets: :meth:`take` returns 0 when allowed, else the seconds until a token is back."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket; 0.0 when there was one, else the wait in seconds."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > _MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """ASGI middleware: 429 ``rate_limited`` with ``Retry-After`` for clients over their budget on ``paths``."""

    def __init__(self, app: ASGIApp, per_minute: float, burst: int, paths: tuple[str, ...]) -> None:
        self.app = app
        self.paths = paths
        self.buckets = TokenBuckets(per_minute, burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not scope.get("path", "").startswith(self.paths):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.buckets.take(str(client))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse

        body: Any = error_body("rate_limited", f"more than the allowed requests a minute from {client}; retry in "
                                                f"{math.ceil(wait)} s")
        await JSONResponse(body, status_code=429, headers={"Retry-After": str(math.ceil(wait))})(scope, receive, send)
