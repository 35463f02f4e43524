"""Crawler throughput and memory against a loopback catalogue.

Prints images/second and peak memory for crawls of 100 and 1000 products (one
768x1024 JPEG each) served by a synthetic shop in another process, each crawl
in a fresh process so peak RSS is its own. Flat memory between the two sizes
shows that image bytes are streamed and dropped, not accumulated. When the
embedded demo shop is available it is crawled too.

    .venv/bin/python benchmarks/bench_scrape.py [--sizes 100 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _serve(n: int, port_queue: mp.Queue) -> None:
    import numpy as np
    from PIL import Image

    images = []
    for i in range(n):
        rng = np.random.default_rng(i)
        blocks = rng.integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
        img = Image.fromarray(blocks).resize((768, 1024), Image.BILINEAR)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        images.append(buf.getvalue())
    per_page = 50
    pages = (n + per_page - 1) // per_page

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            path = self.path
            if path.startswith("/catalog/"):
                k = int(path.rsplit("/", 1)[1])
                links = "".join(f'<a href="/p/{i}">{i}</a>' for i in range(k * per_page, min(n, (k + 1) * per_page)))
                if k + 1 < pages:
                    links += f'<a rel="next" href="/catalog/{k + 1}">next</a>'
                self._send(200, links.encode(), "text/html")
            elif path.startswith("/p/"):
                i = int(path[3:])
                ld = json.dumps({"@type": "Product", "sku": f"B{i}", "name": f"Item {i}", "category": "Tops",
                                 "image": f"/img/{i}.jpg"})
                self._send(200, f'<html><head><script type="application/ld+json">{ld}</script></head></html>'.encode(),
                           "text/html")
            elif path.startswith("/img/"):
                self._send(200, images[int(path[5:-4])], "image/jpeg")
            else:
                self._send(404, b"", "text/plain")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _crawl_child(base: str, n: int, demo: bool) -> dict[str, float]:
    from pipeline.scrape import ScrapeConfig, crawl
    from pipeline.stage_metrics import StageMetrics

    source = {"name": "bench", "start_urls": ["/catalog" if demo else base + "/catalog/0"],
              "kind": "demo" if demo else "http", "max_pages": 100_000,
              "max_items": 10 * n if demo else n}
    cfg = ScrapeConfig.from_dict({"http": {"per_host_delay_s": 0.0}, "progress": False, "sources": [source]})
    with tempfile.TemporaryDirectory() as out, contextlib.ExitStack() as stack:
        if demo:
            from pipeline.demoshop import DemoShopConfig, running_demo_shop

            # The shop is built before measuring: its own start-up is not the crawler's cost.
            shop = stack.enter_context(running_demo_shop(DemoShopConfig.from_dict({"products": n})))
            cfg = dataclasses.replace(cfg, sources=(cfg.sources[0].bind_base(shop),))
        metrics = StageMetrics("scrape")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0 = time.process_time()
        tracemalloc.start()
        t0 = time.perf_counter()
        frame = crawl(cfg, out, metrics)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        cpu = time.process_time() - cpu0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        on_disk = sum(p.stat().st_size for p in Path(out, "images").iterdir())
    return {"images": len(frame), "seconds": seconds, "images_per_s": len(frame) / seconds,
            "cpu_ms_per_image": 1000 * cpu / max(1, len(frame)),
            "tracemalloc_peak_mib": peak / 2**20, "rss_peak_mib": rss / 1024, "rss_before_mib": rss_before / 1024,
            "mib_on_disk": on_disk / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--child", nargs=3, metavar=("BASE", "N", "DEMO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        base, n, demo = args.child
        print(json.dumps(_crawl_child(base, int(n), demo == "1")))
        return
    queue: mp.Queue = mp.Queue()
    server = mp.Process(target=_serve, args=(max(args.sizes), queue), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{queue.get(timeout=300)}"
    runs = [(n, "0") for n in args.sizes]
    try:
        import pipeline.demoshop as demoshop

        if hasattr(demoshop, "running_demo_shop"):
            runs.append((24, "1"))  # the shop runs in the crawler's process: RSS includes it
    except ImportError:
        pass
    print(f"{'catalogue':<26}{'images':>7}{'s':>8}{'img/s':>8}{'CPU ms/img':>12}{'tracemalloc peak MiB':>22}{'RSS peak MiB':>14}"
          f"{'RSS at start MiB':>18}{'MiB on disk':>13}")
    try:
        for n, demo in runs:
            out = subprocess.run([sys.executable, __file__, "--child", base, str(n), demo], check=True,
                                 capture_output=True, text=True, cwd=REPO)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            name = f"demo shop ({n} products)" if demo == "1" else f"synthetic {n}"
            print(f"{name:<26}{r['images']:>7}{r['seconds']:>8.1f}{r['images_per_s']:>8.1f}{r['cpu_ms_per_image']:>12.0f}"
                  f"{r['tracemalloc_peak_mib']:>22.1f}{r['rss_peak_mib']:>14.0f}{r['rss_before_mib']:>18.0f}"
                  f"{r['mib_on_disk']:>13.1f}")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
