"""REST API latency and throughput on this machine, and what the HTTP layer adds to a direct engine call.

Starts ``vton serve`` in its own process on 127.0.0.1 and measures, at the model's size:

* the direct in-process ``engine.tryon`` call (median of serial calls, before any server runs);
* one client, serial requests: median latency, and the per-request overhead over the engine
  call made inside that same request (upload, multipart parsing, decoding, queueing,
  JPEG/base64 encoding, JSON, loopback transfer), which is robust to background load;
* ``--clients`` concurrent clients (default 16), each sending ``--per-client`` requests:
  p50/p95 latency, throughput, and how many were refused with 503.

The model is ``--model`` if given, else the trained ``data/train_tom/model`` (with
``data/train_gmm/model``), else GMM/TOM with the architecture and size of params.yaml's
train_gmm/train_tom blocks and random weights built here: timing only, the pictures are
meaningless. Inputs are real 768x1024 photos from ../shared/data when present, else the
bundled sample portrait and a drawn T-shirt.

* ``--memory N`` instead: N concurrent requests whose two uploads are 25-megapixel PNGs of a
  few dozen kB each (the probe's decompression-heavy case), and the server's peak resident
  memory while they are answered, with the answers' status codes.

    .venv/bin/python benchmarks/bench_api.py [--clients 16] [--per-client 3] [--workers 1 2]
    .venv/bin/python benchmarks/bench_api.py --memory 50 --workers 1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"


def _inputs() -> tuple[bytes, bytes, str]:
    from PIL import Image, ImageDraw

    person, garment = SHARED / "persons" / "ootd_01008_00.jpg", SHARED / "garments" / "ootd_00055_00.jpg"
    if person.is_file() and garment.is_file():
        return person.read_bytes(), garment.read_bytes(), "shared/data 768x1024 photo + garment"
    import matplotlib.cbook

    grace = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    tee = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(tee).polygon([(180, 120), (420, 120), (560, 260), (480, 320), (440, 280), (440, 680), (160, 680),
                                 (160, 280), (120, 320), (40, 260)], fill=(190, 30, 40))
    bufs = []
    for img in (grace, tee):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=92)
        bufs.append(buf.getvalue())
    return bufs[0], bufs[1], "matplotlib sample portrait 512x600 + drawn T-shirt"


def _model(arg: str | None, tmp: Path) -> tuple[str, str]:
    if arg:
        return arg, arg
    if (REPO / "data/train_tom/model/model.pt").is_file():
        return str(REPO / "data/train_tom/model"), "trained data/train_tom/model"
    import torch
    import yaml

    from pipeline.models import GMM, TOM, GMMConfig, TOMConfig
    from pipeline.train.inputs import PERSON_CHANNELS
    from pipeline.train.model_io import save_model

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    size = list(params["train_tom"]["size"])
    torch.manual_seed(0)
    g = GMMConfig.from_dict({"person_channels": PERSON_CHANNELS, **params["train_gmm"]["model"]})
    t = TOMConfig.from_dict({"in_channels": PERSON_CHANNELS, **params["train_tom"]["model"]})
    save_model(tmp / "gmm", "gmm", GMM(g), g, {"size": size})
    save_model(tmp / "tom", "tom", TOM(t), t, {"size": size})
    return str(tmp), f"random weights, params.yaml architecture, size {size} (timing only)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _engine(model: str) -> Any:
    from pipeline.infer.engine import TryOnEngine
    from pipeline.infer.types import EngineConfig

    return TryOnEngine.load(EngineConfig(model=model, device="cpu"))


class Server:
    def __init__(self, model: str, workers: int, queue_size: int, tmp: Path) -> None:
        self.port = _free_port()
        cfg = tmp / f"api-{workers}.yaml"
        cfg.write_text(json.dumps({"api": {"workers": workers, "queue_size": queue_size, "engine": {"device": "cpu"}}}))
        self.log = tmp / f"serve-{workers}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--log-level", "WARNING", "serve",
                                          "--port", str(self.port), "--model", model, "--config", str(cfg)],
                                         cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait(self) -> None:
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vton serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                health = httpx.get(f"{self.url}/api/v1/health", timeout=2).json()
                if health["model_loaded"]:
                    return
                raise RuntimeError(f"vton serve started without the model: {health['detail']}")
            except httpx.TransportError:
                time.sleep(0.3)
        raise RuntimeError("vton serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _post(client, person: bytes, garment: bytes) -> tuple[int, float, float | None]:
    """(status, client-side seconds, engine seconds inside the server)."""
    files = {"person_image": ("p.jpg", person, "image/jpeg"), "garment_image": ("g.jpg", garment, "image/jpeg")}
    t0 = time.perf_counter()
    resp = client.post("/api/v1/tryon", files=files)
    elapsed = time.perf_counter() - t0
    engine_time = resp.json()["metadata"]["timings"]["total"] if resp.status_code == 200 else None
    return resp.status_code, elapsed, engine_time


def _big_png(side: int = 5000) -> bytes:
    """A ``side`` x ``side`` PNG that compresses to a few dozen kB: cheap to send, costly to decode."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (side, side), (236, 236, 232))
    ImageDraw.Draw(img).rectangle((side // 3, side // 5, 2 * side // 3, 4 * side // 5), fill=(40, 60, 150))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def memory_run(model: str, workers: int, concurrent: int, tmp: Path) -> None:
    """``concurrent`` simultaneous 25 Mpx requests; the server process's peak RSS while they run."""
    import httpx
    import psutil

    png = _big_png()
    server = Server(model, workers, queue_size=8, tmp=tmp)
    try:
        server.wait()
        proc = psutil.Process(server.proc.pid)
        base = proc.memory_info().rss
        peak = [base]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], proc.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.02)

        codes: list[int] = []
        lock = threading.Lock()

        def one() -> None:
            files = {"person_image": ("p.png", png, "image/png"), "garment_image": ("g.png", png, "image/png")}
            with httpx.Client(base_url=server.url, timeout=600) as c:
                status = c.post("/api/v1/tryon", files=files).status_code
            with lock:
                codes.append(status)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        threads = [threading.Thread(target=one) for _ in range(concurrent)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        watcher.join()
        counts = {c: codes.count(c) for c in sorted(set(codes))}
        print(f"memory: {concurrent} concurrent requests of two {len(png) // 1000} kB 25 Mpx PNGs, workers={workers}: "
              f"server RSS {base / 2**30:.2f} GB idle, peak {peak[0] / 2**30:.2f} GB; answers {counts} in "
              f"{time.perf_counter() - t0:.1f} s")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=3)
    parser.add_argument("--serial", type=int, default=8, help="interleaved direct / single-client calls for the overhead figure")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory", type=int, default=0, help="N concurrent 25 Mpx requests: the server's peak memory")
    args = parser.parse_args()
    import httpx
    import torch

    person, garment, what = _inputs()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmpdir:
        tmp = Path(tmpdir)
        model, model_what = _model(args.model, tmp)
        if args.memory:
            print(f"model: {model_what}")
            for workers in args.workers:
                memory_run(model, workers, args.memory, tmp)
            return
        print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), CPU, "
              f"load average {os.getloadavg()[0]:.1f} at start")
        print(f"model: {model_what}")
        print(f"inputs: {what} ({len(person)} + {len(garment)} bytes)")
        from pipeline.io.images import decode_image

        # The direct call runs alone (no server process yet) on a worker thread, as the server runs it.
        with _engine(model) as engine, ThreadPoolExecutor(1) as worker:
            def direct_call() -> float:
                t0 = time.perf_counter()
                engine.tryon(decode_image(person), decode_image(garment))
                return time.perf_counter() - t0

            worker.submit(direct_call).result()  # warm-up
            direct = [worker.submit(direct_call).result() for _ in range(args.serial)]
        d = statistics.median(direct)
        print(f"direct engine.tryon (decode included): median {d * 1000:.0f} ms, min {min(direct) * 1000:.0f} ms "
              f"over {args.serial} calls = {1 / d:.2f} req/s serial")
        for workers in args.workers:
            server = Server(model, workers, queue_size=args.clients, tmp=tmp)
            try:
                server.wait()
                print(f"\nworkers={workers}, queue_size={args.clients}")
                with httpx.Client(base_url=server.url, timeout=300) as client:
                    _post(client, person, garment)  # warm-up
                    serial = [_post(client, person, garment) for _ in range(args.serial)]
                api = [r[1] for r in serial]
                inside = [r[1] - r[2] for r in serial]
                a = statistics.median(api)
                print(f"  1 client, serial requests: median {a * 1000:.0f} ms, min {min(api) * 1000:.0f} ms"
                      f"; per-request overhead over the engine call (latency - engine.tryon time measured "
                      f"inside the same request): median {statistics.median(inside) * 1000:.0f} ms, "
                      f"max {max(inside) * 1000:.0f} ms")
                results: list[tuple[int, float, float | None]] = []
                lock = threading.Lock()

                def client_loop() -> None:
                    with httpx.Client(base_url=server.url, timeout=600) as c:
                        for _ in range(args.per_client):
                            r = _post(c, person, garment)
                            with lock:
                                results.append(r)

                threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                ok = [r[1] for r in results if r[0] == 200]
                refused = sum(1 for r in results if r[0] == 503)
                other = len(results) - len(ok) - refused
                print(f"  {args.clients} concurrent clients x {args.per_client}: p50 {_pct(ok, 0.5) * 1000:.0f} ms, "
                      f"p95 {_pct(ok, 0.95) * 1000:.0f} ms, max {max(ok) * 1000:.0f} ms; "
                      f"throughput {len(ok) / wall:.2f} req/s ({len(ok)} ok, {refused} x 503, {other} other, {wall:.1f} s)")
            finally:
                server.stop()
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end (a shared machine makes every figure above noisy)")


if __name__ == "__main__":
    main()
