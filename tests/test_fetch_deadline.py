"""The body download limit is a wall-clock deadline, against loopback servers that drip or stall."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.scrape.config import HttpConfig
from pipeline.scrape.fetch import FetchError, Fetcher


def _serve(behaviour: str) -> Iterator[str]:
    """A raw-socket HTTP server: ``drip`` sends one body byte every 0.2 s, ``stall`` sends headers then nothing."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()
    requests_seen = []

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            requests_seen.append(time.monotonic())
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
            try:
                while not stop.is_set():
                    if behaviour == "drip":
                        conn.sendall(b"x")
                    time.sleep(0.2)
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/x.jpg", requests_seen
    finally:
        stop.set()
        srv.close()


@pytest.mark.parametrize("behaviour", ["drip", "stall"])
def test_body_is_cut_at_its_deadline_and_not_retried(behaviour: str) -> None:
    gen = _serve(behaviour)
    url, seen = next(gen)
    # The read timeout alone (8 s between bytes) would never end a drip, nor a stall before 8 s.
    http = HttpConfig(read_timeout_s=8.0, body_timeout_s=2.0, retries=2, per_host_delay_s=0.0)
    t0 = time.monotonic()
    with pytest.raises(FetchError) as info:
        Fetcher(http).get(url, max_bytes=10_000_000, accept=None, kind="image")
    took = time.monotonic() - t0
    assert info.value.reason == "timeout"
    assert 1.5 <= took <= 4.0, took
    assert len(seen) == 1  # a body over its deadline is not tried again
    gen.close()
