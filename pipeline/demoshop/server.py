"""The demo shop's HTTP server: a threaded stdlib server on loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from pipeline.demoshop.catalog import Catalog, build_catalog
from pipeline.demoshop.config import DemoShopConfig
from pipeline.demoshop.pages import (
    render_home,
    render_listing,
    render_product,
    render_robots,
    render_sitemap,
)
from pipeline.log import get_logger

log = get_logger(__name__)


class DemoShopServer(ThreadingHTTPServer):
    """A threaded HTTP server that serves one built :class:`Catalog`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], catalog: Catalog) -> None:
        super().__init__(address, DemoShopHandler)
        self.catalog = catalog

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the bound socket."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class DemoShopHandler(BaseHTTPRequestHandler):
    """Routes: /, /robots.txt, /sitemap.xml, /catalog?page=N, /product/<id>, /images/<file>."""

    server: DemoShopServer
    protocol_version = "HTTP/1.1"
    server_version = "VesakiDemoShop/1.0"
    timeout = 30  # idle keep-alive connections do not hold a thread forever

    def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
        self._respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(send_body=False)

    def _base_url(self) -> str:
        # Links follow the name the client used (a browser on another host, say).
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.base_url

    def _respond(self, send_body: bool) -> None:
        catalog = self.server.catalog
        parts = urlsplit(self.path)
        path = parts.path
        status, ctype, body = HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n"
        if path in ("/", "/index.html"):
            status, ctype, body = HTTPStatus.OK, "text/html; charset=utf-8", render_home(catalog).encode()
        elif path == "/robots.txt":
            status, ctype, body = HTTPStatus.OK, "text/plain; charset=utf-8", render_robots(self._base_url()).encode()
        elif path == "/sitemap.xml":
            body = render_sitemap(catalog, self._base_url()).encode()
            status, ctype = HTTPStatus.OK, "application/xml; charset=utf-8"
        elif path == "/catalog":
            raw = parse_qs(parts.query).get("page", ["1"])[0]
            try:
                page = int(raw)
            except ValueError:
                status, body = HTTPStatus.BAD_REQUEST, f"bad page number {raw!r}\n".encode()
            else:
                html = render_listing(catalog, page)
                if html is not None:
                    status, ctype, body = HTTPStatus.OK, "text/html; charset=utf-8", html.encode()
        elif path.startswith(("/product/", "/private/product/")):
            product = catalog.product(path.rsplit("/", 1)[-1])
            if product is not None and product.page_path == path:
                body = render_product(product, self._base_url()).encode()
                status, ctype = HTTPStatus.OK, "text/html; charset=utf-8"
        elif path in catalog.images:
            status, ctype, body = HTTPStatus.OK, "image/jpeg", catalog.images[path]
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if ctype == "image/jpeg":
            self.send_header("Cache-Control", "public, max-age=86400")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("demo shop request", client=self.client_address[0], line=format % args)


@contextlib.contextmanager
def running_demo_shop(
    cfg: DemoShopConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Build the catalogue, serve it on ``host:port`` (0 = a free port) and yield the base URL.

    The server runs in a daemon thread and is shut down when the block exits.
    """
    catalog = build_catalog(cfg or DemoShopConfig())
    server = DemoShopServer((host, port), catalog)
    thread = threading.Thread(target=server.serve_forever, name="demo-shop", daemon=True)
    thread.start()
    log.info("demo shop serving", url=server.base_url, products=len(catalog.products))
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
