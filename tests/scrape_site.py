"""A real loopback web shop for crawler tests: routes, fault handlers, a request log, odd images."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image

Handler = Callable[[BaseHTTPRequestHandler, "Site"], None]


class Site:
    """Routes by exact path (query included) and a log of every request received."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.log: list[tuple[float, str, str]] = []  # (time, path, user agent)
        self.sent: dict[str, int] = {}  # bytes written by streaming handlers before the client hung up
        self.lock = threading.Lock()
        self.base = ""

    def add(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def paths(self, prefix: str = "") -> list[str]:
        with self.lock:
            return [p for _, p, _ in self.log if p.startswith(prefix)]

    def times(self, path: str) -> list[float]:
        with self.lock:
            return [t for t, p, _ in self.log if p == path]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()


def respond(status: int = 200, body: bytes | str = b"", ctype: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None) -> Handler:
    payload = body.encode() if isinstance(body, str) else body

    def handle(req: BaseHTTPRequestHandler, site: Site) -> None:
        req.send_response(status)
        if ctype:
            req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(payload)

    return handle


def page(body: str) -> Handler:
    return respond(200, f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>")


def jsonld_page(data: Any, links: str = "") -> Handler:
    return respond(200, "<!doctype html><html><head>"
                        f'<script type="application/ld+json">{json.dumps(data)}</script>'
                        f"</head><body>{links}</body></html>")


def image(data: bytes, ctype: str = "image/jpeg") -> Handler:
    return respond(200, data, ctype)


def redirect(location: str, status: int = 302) -> Handler:
    return respond(status, b"", "", {"Location": location})


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets handlers[n] (the last one repeats)."""
    calls = {"n": 0}

    def handle(req: BaseHTTPRequestHandler, site: Site) -> None:
        i = min(calls["n"], len(handlers) - 1)
        calls["n"] += 1
        handlers[i](req, site)

    return handle


def slow(delay: float, handler: Handler) -> Handler:
    def handle(req: BaseHTTPRequestHandler, site: Site) -> None:
        time.sleep(delay)
        handler(req, site)

    return handle


def stream(total: int, declare_length: bool, chunk: int = 64 * 1024, ctype: str = "image/jpeg") -> Handler:
    """Stream ``total`` bytes of a JPEG-looking body, counting what actually got written."""

    def handle(req: BaseHTTPRequestHandler, site: Site) -> None:
        req.send_response(200)
        req.send_header("Content-Type", ctype)
        if declare_length:
            req.send_header("Content-Length", str(total))
        else:
            req.send_header("Connection", "close")
        req.end_headers()
        block = b"\xff\xd8\xff" + b"\0" * (chunk - 3)
        sent = 0
        try:
            while sent < total:
                req.wfile.write(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with site.lock:
                site.sent[req.path] = sent
            req.close_connection = True

    return handle


class _RequestHandler(BaseHTTPRequestHandler):
    site: Site
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        with self.site.lock:
            self.site.log.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
        handler = self.site.routes.get(self.path) or respond(404, "<h1>not found</h1>")
        try:
            handler(self, self.site)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass


@contextlib.contextmanager
def serve(site: Site) -> Iterator[str]:
    """Serve ``site`` on 127.0.0.1 (free port) in a thread; yields the base URL."""
    handler = type("Handler", (_RequestHandler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site.base
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- images ------------------------------------------------------------------------------------

def photo(seed: int, size: tuple[int, int] = (96, 128)) -> Image.Image:
    """A distinct RGB picture per seed (blocky colour field: far apart in perceptual hash)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize(size, Image.NEAREST)


def encode(img: Image.Image, fmt: str = "JPEG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def cmyk_jpeg(seed: int) -> bytes:
    return encode(photo(seed).convert("CMYK"), "JPEG", quality=90)


def png16(seed: int) -> bytes:
    arr = (np.asarray(photo(seed).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16"), img.mode
    return encode(img, "PNG")


def rgba_png(seed: int) -> bytes:
    img = photo(seed).convert("RGBA")
    alpha = np.full((img.height, img.width), 255, np.uint8)
    alpha[:, : img.width // 3] = 0
    img.putalpha(Image.fromarray(alpha))
    return encode(img, "PNG")


def gray_jpeg(seed: int) -> bytes:
    return encode(photo(seed).convert("L"), "JPEG", quality=90)


def exif_rotated_jpeg(seed: int) -> bytes:
    """A 96x128 stored picture tagged 'rotate 90 CW' (orientation 6): upright it is 128x96."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(seed), "JPEG", quality=90, exif=exif.tobytes())


def truncated_jpeg(seed: int) -> bytes:
    data = encode(photo(seed, (256, 256)), "JPEG", quality=95)
    return data[: len(data) // 2]
