"""Deadlines on slow clients: a request's headers, then its body, must arrive in time, or the connection is closed.

uvicorn bounds idle keep-alive connections but not a client that sends its headers or its body
a byte at a time (slowloris): such connections stay open as long as the client likes, and 500
of them were all still held after 20 s. Nothing in uvicorn's options covers it and an ASGI
middleware runs only once headers are complete, so the check lives in the HTTP protocol itself,
a small subclass of uvicorn's h11 protocol: one timer per connection, armed for the headers
when the connection opens (and after each response, for the next request), re-armed for the
body once the headers are in, and cleared when the body is complete. The connection cap is
uvicorn's own ``limit_concurrency`` (503 beyond it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from pipeline.log import get_logger

log = get_logger(__name__)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines (class attributes set by :func:`guarded_protocol`)."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""
        super().connection_made(transport)
        self._arm("headers", self.header_timeout_s)

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, ""

    def _too_slow(self) -> None:
        if not self.transport.is_closing():
            log.info("slow client cut", phase=self._phase, client=str(self.client))
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.disconnected = True
                self.cycle.message_event.set()
            self.transport.close()
        self._deadline, self._phase = None, ""

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is None or cycle.response_complete or self.transport.is_closing():
            return
        if self._phase == "headers":
            self._arm("body", self.body_timeout_s)
        if self._phase == "body" and not cycle.more_body:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # The next request on this keep-alive connection: idle time is uvicorn's, then its headers.
            self._arm("headers", self.timeout_keep_alive + self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(header_timeout_s: float, body_timeout_s: float) -> type[DeadlineH11Protocol]:
    """A :class:`DeadlineH11Protocol` subclass with these deadlines (uvicorn takes a protocol class)."""
    return type("GuardedH11Protocol", (DeadlineH11Protocol,),
                {"header_timeout_s": float(header_timeout_s), "body_timeout_s": float(body_timeout_s)})


def server_config(app: Any, api: Any, **kwargs: Any) -> Any:
    """The ``uvicorn.Config`` of an app under an :class:`~pipeline.api.config.ApiConfig`: deadlines and connection cap."""
    import uvicorn

    return uvicorn.Config(app, http=guarded_protocol(api.header_timeout_s, api.body_timeout_s),
                          limit_concurrency=api.max_connections, timeout_keep_alive=api.keep_alive_timeout_s, **kwargs)
