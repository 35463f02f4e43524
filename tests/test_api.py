"""REST API (``vton serve``) against real uvicorn servers on loopback, with a real engine on tiny models.

The models get random weights on purpose (made here, nothing judges try-on quality): the
tests check the HTTP contract, the limits, the SSRF guard, batch jobs and that concurrent
requests neither corrupt results nor block the server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import matplotlib.cbook
import numpy as np
import pytest
import torch
import uvicorn
from PIL import Image, ImageDraw

from pipeline.api import ApiConfig, BatchConfig, create_app
from pipeline.api.batch import BatchJobs, ShuttingDown
from pipeline.api.fetch_guard import UrlRefused, check_url, guarded_session
from pipeline.infer.engine import TryOnEngine
from pipeline.infer.types import EngineConfig
from pipeline.io.images import ImageLimits
from tests.train_helpers import write_random_bundle

SIZE = (128, 96)
TRYON = "/api/v1/tryon"
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- pictures


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _tee(colour: tuple[int, int, int]) -> bytes:
    """A T-shirt shape on white, as a shop would photograph it."""
    img = Image.new("RGB", (240, 320), "white")
    ImageDraw.Draw(img).polygon([(72, 48), (168, 48), (224, 104), (192, 128), (176, 112), (176, 272), (64, 272),
                                 (64, 112), (48, 128), (16, 104)], fill=colour)
    return _png(img)


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    from skimage import data

    grace = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    astronaut = Image.fromarray(data.astronaut())
    rng = np.random.default_rng(0)
    return {
        "grace": _jpeg(grace.resize((240, 300))),
        "astronaut": _jpeg(astronaut.resize((240, 300))),
        "red_tee": _tee((190, 30, 40)),
        "blue_tee": _tee((30, 60, 170)),
        # A smooth gradient: a valid photo with nobody in it.
        "empty_room": _jpeg(Image.fromarray(np.tile(np.linspace(90, 200, 256, dtype=np.uint8)[:, None, None], (1, 192, 3)))),
        # Noise does not compress: well over the 300 kB upload limit below.
        "noise": _png(Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8))),
        # Tiny file, too many pixels for the 1 MP limit below.
        "huge_plain": _png(Image.new("RGB", (1200, 1000), "white")),
        "text": b"name,size\nshirt,M\n" * 20,
        "truncated_jpeg": _jpeg(grace)[:600],
    }


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GMM + TOM with random weights, made explicitly for this serving test, saved as training saves them."""
    root = tmp_path_factory.mktemp("bundle")
    return write_random_bundle(root, SIZE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """uvicorn serving ``app`` on 127.0.0.1 from a background thread."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


RESULTS = tempfile.mkdtemp(prefix="vton-batch-results-")
API_CONFIG = ApiConfig(max_upload_bytes=300_000, max_image_pixels=1_000_000, max_image_side=4000, workers=2, queue_size=6,
                       retry_after_s=3, engine={"device": "cpu"},
                       batch=BatchConfig(allow_private_urls=True, max_items=4, read_timeout_s=5, download_timeout_s=10,
                                         results_dir=RESULTS))


@pytest.fixture(scope="module")
def api(bundle: Path) -> Iterator[ThreadedServer]:
    app = create_app(API_CONFIG, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def client(api: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=120) as c:
        yield c


def _files(person: bytes, garment: bytes, person_name: str = "person.jpg", person_type: str = "image/jpeg") -> dict:
    return {"person_image": (person_name, person, person_type), "garment_image": ("garment.png", garment, "image/png")}


def _error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text[:300]
    body = resp.json()
    assert body["status"] == "error" and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]["message"]


def _decode(b64: str) -> Image.Image:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def _diff(a: str, b: str) -> float:
    """Mean absolute pixel difference of two base64 pictures of the same size."""
    x, y = (np.asarray(_decode(v).convert("RGB"), np.int16) for v in (a, b))
    assert x.shape == y.shape
    return float(np.abs(x - y).mean())


# MediaPipe's threaded kernels may move a keypoint by a hair between two runs of one pair
# (serially too), so "the same result" means a mean difference under a grey level; two
# different pairs differ by tens of grey levels.
SAME = 1.5


# ---------------------------------------------------------------- try-on


def test_health_reports_the_loaded_model(client: httpx.Client) -> None:
    head = client.head("/api/v1/health")  # load balancers probe with HEAD
    assert head.status_code == 200 and head.content == b""
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["model_loaded"] is True
    assert body["model_source"] == "explicit" and Path(body["model"]).name.startswith("bundle")  # which model answers
    assert body["gpu_available"] == torch.cuda.is_available()
    assert body["version"] and body["queue_capacity"] == 8


def test_tryon_png_with_mask_keeps_the_person_size(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    resp = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]),
                       data={"options": json.dumps({"output_format": "png", "return_mask": True})})
    assert resp.status_code == 200, resp.text[:300]
    body = resp.json()
    assert body["status"] == "ok" and body["processing_time"] > 0
    image, mask = _decode(body["result"]), _decode(body["mask"])
    assert image.format == "PNG" and image.size == (240, 300)
    assert mask.mode == "L" and mask.size == (240, 300)
    assert body["metadata"]["size"] == list(SIZE) and set(body["metadata"]["timings"]) >= {"annotate", "gmm", "tom", "total"}


def test_tryon_defaults_to_jpeg_without_mask(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    body = client.post(TRYON, files=_files(pictures["astronaut"], pictures["blue_tee"]),
                       data={"options": json.dumps({"quality": 88})}).json()
    assert body["status"] == "ok" and body["mask"] is None
    assert _decode(body["result"]).format == "JPEG" and body["metadata"]["quality"] == 88


def test_client_name_and_content_type_are_not_trusted(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    # A PNG sent as "shirt.txt" with text/plain is still an image; a text file named .jpg is not.
    ok = client.post(TRYON, files={"person_image": ("p.jpg", pictures["grace"], "image/jpeg"),
                                   "garment_image": ("shirt.txt", pictures["red_tee"], "text/plain")})
    assert ok.status_code == 200, ok.text[:300]
    _error(client.post(TRYON, files=_files(pictures["text"], pictures["red_tee"], "photo.jpg")), 415, "unsupported_media_type")


@pytest.mark.parametrize("options, needle", [
    ("{not json", "not valid JSON"),
    (json.dumps({"quality": 50}), "quality"),
    (json.dumps({"output_format": "gif"}), "output_format"),
    (json.dumps({"return_mask": True, "colour": "red"}), "colour"),
    (json.dumps([1, 2]), "JSON object"),
    (json.dumps({"category": "shoes"}), "category"),
    (json.dumps({"return_mask": "yes"}), "return_mask"),
    (json.dumps({"quality": "95"}), "quality"),
    (json.dumps({"quality": 95.5}), "quality"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"quality": ' + "9" * 5000 + "}", "cannot be read"),
])
def test_bad_options_are_422(client: httpx.Client, pictures: dict[str, bytes], options: str, needle: str) -> None:
    resp = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]), data={"options": options})
    assert needle in _error(resp, 422, "invalid_options")


def test_duplicate_field_is_422(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    files = [("person_image", ("a.jpg", pictures["grace"], "image/jpeg")), ("person_image", ("b.jpg", pictures["grace"], "image/jpeg")),
             ("garment_image", ("g.png", pictures["red_tee"], "image/png"))]
    assert "person_image" in _error(client.post(TRYON, files=files), 422, "duplicate_field")


def test_oversized_options_field_is_413(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    resp = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]), data={"options": " " * 1_100_000})
    _error(resp, 413, "upload_too_large")


def test_category_the_model_was_not_trained_for_is_422(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    # The bundle's models record no categories: they are taken as upper-body models.
    resp = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]), data={"options": json.dumps({"category": "dresses"})})
    message = _error(resp, 422, "category_not_trained")
    assert "upper_body" in message and "dresses" in message
    ok = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]), data={"options": json.dumps({"category": "upper_body"})})
    assert ok.status_code == 200, ok.text[:300]
    assert ok.json()["metadata"]["category"] == "upper_body"


def test_missing_field_is_422_in_the_api_error_shape(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    resp = client.post(TRYON, files={"person_image": ("p.jpg", pictures["grace"], "image/jpeg")})
    assert "garment_image" in _error(resp, 422, "missing_field")
    assert "detail" not in resp.json()


def test_oversized_upload_is_413(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    assert len(pictures["noise"]) > API_CONFIG.max_upload_bytes
    assert "person_image" in _error(client.post(TRYON, files=_files(pictures["noise"], pictures["red_tee"])), 413, "upload_too_large")
    # A body over both files' allowance is cut off while it streams, before any parsing.
    body = b"\xff\xd8\xff" + b"\0" * (2 * API_CONFIG.max_upload_bytes + 300_000)
    _error(client.post(TRYON, files=_files(body, pictures["red_tee"])), 413, "upload_too_large")
    # Without a Content-Length (chunked), the body is counted as it streams.
    boundary = "vtonboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"person_image\"; filename=\"p.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(20):
            yield b"\0" * 65536

    resp = client.post(TRYON, content=chunks(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in resp.request.headers and resp.request.headers.get("transfer-encoding") == "chunked"
    _error(resp, 413, "upload_too_large")


def test_too_many_pixels_is_413(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    assert len(pictures["huge_plain"]) < API_CONFIG.max_upload_bytes
    msg = _error(client.post(TRYON, files=_files(pictures["grace"], pictures["huge_plain"])), 413, "image_too_large")
    assert "garment_image" in msg and "1200x1000" in msg


def test_undecodable_image_is_422(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    _error(client.post(TRYON, files=_files(pictures["truncated_jpeg"], pictures["red_tee"])), 422, "undecodable_image")


def test_swapped_pictures_are_422_saying_which_is_which(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    swapped = {"person_image": ("tee.png", pictures["red_tee"], "image/png"), "garment_image": ("p.jpg", pictures["grace"], "image/jpeg")}
    assert "garment_image" in _error(client.post(TRYON, files=swapped), 422, "person_image_is_a_garment")
    both_people = {"person_image": ("p.jpg", pictures["grace"], "image/jpeg"), "garment_image": ("q.jpg", pictures["grace"], "image/jpeg")}
    assert "person" in _error(client.post(TRYON, files=both_people), 422, "garment_image_is_a_person")


def test_photo_without_a_person_is_422_no_person(client: httpx.Client, pictures: dict[str, bytes]) -> None:
    _error(client.post(TRYON, files=_files(pictures["empty_room"], pictures["red_tee"])), 422, "no_person")


def test_unknown_route_is_404_json(client: httpx.Client) -> None:
    _error(client.get("/api/v1/nothing"), 404, "not_found")


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text and "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/tryon", "/api/v1/health", "/api/v1/batch", "/api/v1/batch/{job_id}"} <= set(paths)


def test_50_concurrent_requests_are_answered_and_not_mixed_up(api: ThreadedServer, client: httpx.Client,
                                                             pictures: dict[str, bytes]) -> None:
    pairs = {"a": (pictures["grace"], pictures["red_tee"]), "b": (pictures["astronaut"], pictures["blue_tee"])}
    opts = {"options": json.dumps({"output_format": "png"})}
    reference = {k: client.post(TRYON, files=_files(*p), data=opts).json()["result"] for k, p in pairs.items()}
    assert _diff(reference["a"], reference["b"]) > 10 * SAME

    async def burst() -> tuple[list[tuple[str, httpx.Response]], dict]:
        async with httpx.AsyncClient(base_url=api.url, timeout=180, limits=httpx.Limits(max_connections=64)) as ac:
            async def one(i: int) -> tuple[str, httpx.Response]:
                key = "ab"[i % 2]
                return key, await ac.post(TRYON, files=_files(*pairs[key]), data=opts)

            tasks = [asyncio.create_task(one(i)) for i in range(50)]
            while not any(t.done() for t in tasks):
                await asyncio.sleep(0.01)
            # The event loop answers while try-ons are still queued and running.
            health = (await ac.get("/api/v1/health")).json()
            health["tryons_pending"] = sum(not t.done() for t in tasks)
            return list(await asyncio.gather(*tasks)), health

    answers, health = asyncio.run(burst())
    assert health["tryons_pending"] > 0 and health["queue_in_flight"] > 0
    served = 0
    for key, resp in answers:
        if resp.status_code == 503:
            _error(resp, 503, "queue_full")
            assert resp.headers["Retry-After"] == str(API_CONFIG.retry_after_s)
            continue
        assert resp.status_code == 200, resp.text[:300]
        result = resp.json()["result"]
        other = reference["b" if key == "a" else "a"]
        assert _diff(result, reference[key]) < SAME < _diff(result, other), "a concurrent result is not its own pair's"
        served += 1
    # Capacity is 2 running + 6 waiting: at least that many are served, the rest refused cleanly.
    assert served >= 8


# ---------------------------------------------------------------- batch


class _ImageHandler(BaseHTTPRequestHandler):
    files: dict[str, tuple[str, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path not in self.files:
            self.send_error(404)
            return
        ctype, body = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_server(pictures: dict[str, bytes]) -> Iterator[str]:
    handler = type("Handler", (_ImageHandler,), {"files": {
        "/grace.jpg": ("image/jpeg", pictures["grace"]), "/tee.png": ("image/png", pictures["red_tee"]),
        "/list.jpg": ("image/jpeg", pictures["text"]), "/room.jpg": ("application/octet-stream", pictures["empty_room"]),
    }})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _wait_done(client: httpx.Client, job_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/batch/{job_id}").json()
        if body["status"] == "done" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_batch_job_reports_each_item(client: httpx.Client, image_server: str, pictures: dict[str, bytes]) -> None:
    items = [
        {"person_url": f"{image_server}/grace.jpg", "garment_url": f"{image_server}/tee.png"},
        {"person_url": f"{image_server}/list.jpg", "garment_url": f"{image_server}/tee.png"},
        {"person_url": f"{image_server}/to-metadata", "garment_url": f"{image_server}/tee.png"},
        {"person_url": f"{image_server}/missing.jpg", "garment_url": f"{image_server}/tee.png"},
    ]
    resp = client.post("/api/v1/batch", json={"items": items, "options": {"output_format": "png", "return_mask": True}})
    assert resp.status_code == 202, resp.text[:300]
    job = _wait_done(client, resp.json()["job_id"])
    assert job["status"] == "done" and job["total"] == 4 and job["completed"] == 4
    assert (job["succeeded"], job["failed"]) == (1, 3) and job["expires_at"] > job["finished_at"]
    first, text, redirect, missing = job["items"]
    # Links, not pictures, in the status: the files are fetched one by one.
    assert first["status"] == "ok" and "result" not in first and first["person_url"].endswith("/grace.jpg")
    result = client.get(first["result_url"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(result.content)).size == (240, 300)
    assert Image.open(io.BytesIO(client.get(first["mask_url"]).content)).mode == "L"
    _error(client.get(first["result_url"].rsplit("/", 1)[0] + "/..%2Fjobs.sqlite"), 404, "not_found")
    # Same pair as a direct upload gives the same picture.
    direct = client.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"]),
                         data={"options": json.dumps({"output_format": "png"})}).json()
    assert _diff(base64.b64encode(result.content).decode(), direct["result"]) < SAME
    # The page's zip holds the one result, its mask and the three errors.
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/v1/batch/{job['job_id']}/results.zip").content)) as zf:
        assert sorted(zf.namelist()) == ["000.png", "000_mask.png", "errors.txt"]
        assert len(zf.read("errors.txt").decode().splitlines()) == 3
    assert text["error"]["code"] == "unsupported_media_type"
    # Link-local (cloud metadata) stays refused even with private addresses allowed.
    assert redirect["error"]["code"] == "url_refused" and "169.254.169.254" in redirect["error"]["message"]
    assert missing["error"]["code"] == "download_failed" and "404" in missing["error"]["message"]


def test_batch_rejects_bad_requests(client: httpx.Client, image_server: str) -> None:
    good = {"person_url": f"{image_server}/grace.jpg", "garment_url": f"{image_server}/tee.png"}
    _error(client.post("/api/v1/batch", json={"items": [good] * 5}), 422, "too_many_items")
    _error(client.post("/api/v1/batch", json={"items": []}), 422, "invalid_request")
    _error(client.post("/api/v1/batch", json={"items": [{**good, "person_url": "file:///etc/passwd"}]}), 422, "url_refused")
    _error(client.post("/api/v1/batch", json={"items": [good], "options": {"quality": 20}}), 422, "invalid_request")
    assert "across restarts" in _error(client.get("/api/v1/batch/0123456789abcdef"), 404, "job_not_found")


def _finished(jobs: BatchJobs, job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while (job := jobs.get(job_id)) is not None and job["status"] not in ("done", "interrupted") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job is not None
    return job


def _fake_run(p: Image.Image, g: Image.Image) -> dict:
    return {"image": b"jpeg bytes", "mask_png": None, "metadata": {"sizes": [p.size, g.size], "output_format": "jpeg"}}


def test_batch_jobs_expire_after_their_ttl_and_beyond_the_kept_count(image_server: str, tmp_path: Path) -> None:
    now = [1000.0]
    jobs = BatchJobs(BatchConfig(allow_private_urls=True, job_ttl_s=60, max_kept_jobs=1, results_dir=str(tmp_path)),
                     ImageLimits(), clock=lambda: now[0])
    pair = (f"{image_server}/grace.jpg", f"{image_server}/tee.png")
    try:
        first = jobs.submit([pair], _fake_run)
        snap = _finished(jobs, first.job_id)
        assert snap["items"][0]["metadata"]["sizes"] == [[240, 300], [240, 320]] and snap["expires_at"] == 1060.0
        assert (tmp_path / first.job_id / snap["items"][0]["result_file"]).read_bytes() == b"jpeg bytes"
        now[0] = 1059.0
        assert jobs.get(first.job_id) is not None
        now[0] = 1060.0
        assert jobs.get(first.job_id) is None and not (tmp_path / first.job_id).exists()  # its files go with it
        # Only the newest finished job is kept.
        second = jobs.submit([pair], _fake_run)
        _finished(jobs, second.job_id)
        now[0] = 1061.0
        third = jobs.submit([pair], _fake_run)
        _finished(jobs, third.job_id)
        assert jobs.get(second.job_id) is None and jobs.get(third.job_id) is not None
    finally:
        jobs.shutdown()


def test_finished_jobs_survive_a_restart_and_interrupted_ones_say_so(image_server: str, tmp_path: Path) -> None:
    config = BatchConfig(allow_private_urls=True, results_dir=str(tmp_path))
    pair = (f"{image_server}/grace.jpg", f"{image_server}/tee.png")
    jobs = BatchJobs(config, ImageLimits())
    gate, calls = threading.Event(), []

    def slow_second(p: Image.Image, g: Image.Image) -> dict:
        calls.append(1)
        if len(calls) > 1:
            gate.wait(30)  # the second item is still running when the server "dies"
        return _fake_run(p, g)

    done = jobs.submit([pair], _fake_run)
    _finished(jobs, done.job_id)
    stuck = jobs.submit([pair, pair, pair], slow_second)
    deadline = time.monotonic() + 30
    while jobs.get(stuck.job_id)["completed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    # The server stops mid-job (no orderly finish: the table still says running) ...
    jobs._stop.set()
    jobs.store.close()
    # ... and starts again on the same store.
    again = BatchJobs(config, ImageLimits())
    try:
        kept = again.get(done.job_id)
        assert kept is not None and kept["status"] == "done" and kept["items"][0]["status"] == "ok"
        assert again.store.file(done.job_id, kept["items"][0]["result_file"]) is not None
        cut = again.get(stuck.job_id)
        # The crash left items running or pending: at the next start each that never finished ends "interrupted".
        assert cut["status"] == "interrupted" and cut["items"][0]["status"] == "ok"
        assert [it["status"] for it in cut["items"][1:]] == ["interrupted", "interrupted"]
        assert (cut["completed"], cut["interrupted"], cut["pending"]) == (1, 2, 0)
        pairs, options = again.unfinished(stuck.job_id)
        assert pairs == [pair, pair] and options is None  # submitted without options here
        with pytest.raises(ValueError, match="is done"):
            again.unfinished(done.job_id)
    finally:
        gate.set()
        again.shutdown()


def test_an_orderly_stop_ends_every_item_once_and_keeps_the_options(image_server: str, tmp_path: Path) -> None:
    """Stopped mid-job: finished items stay, the rest are interrupted (not errors), the counts add up."""
    config = BatchConfig(allow_private_urls=True, results_dir=str(tmp_path))
    pair = (f"{image_server}/grace.jpg", f"{image_server}/tee.png")
    jobs = BatchJobs(config, ImageLimits())
    started = threading.Event()

    def slow(p: Image.Image, g: Image.Image) -> dict:
        started.set()
        time.sleep(0.5)
        if jobs.stopping:
            raise ShuttingDown()
        return _fake_run(p, g)

    job = jobs.submit([pair] * 6, slow, {"output_format": "png", "return_mask": True})
    queued = jobs.submit([pair] * 2, slow)
    assert started.wait(30)
    jobs.shutdown()
    again = BatchJobs(config, ImageLimits())
    try:
        for job_id, total in ((job.job_id, 6), (queued.job_id, 2)):
            snap = again.get(job_id)
            assert snap["status"] == "interrupted"
            assert snap["completed"] + snap["interrupted"] == total and snap["pending"] == 0
            assert all(it["status"] in ("ok", "interrupted") for it in snap["items"])  # no "shutting_down" errors
        assert again.get(job.job_id)["interrupted"] >= 5
        pairs, options = again.unfinished(job.job_id)
        assert len(pairs) == again.get(job.job_id)["interrupted"] and options == {"output_format": "png", "return_mask": True}
    finally:
        again.shutdown()


def test_resume_answers_for_unknown_and_finished_jobs(client: httpx.Client) -> None:
    _error(client.post("/api/v1/batch/0123abcd/resume"), 404, "job_not_found")


# ---------------------------------------------------------------- SSRF guard


def test_guard_refuses_internal_addresses(image_server: str) -> None:
    for url in (f"{image_server}/grace.jpg", "http://localhost/", "http://[::1]/", "http://10.1.2.3/", "http://0x7f000001/",
                "http://169.254.169.254/", "http://224.0.0.1/", "http://0.0.0.0/", "gopher://example.com/"):
        with pytest.raises(UrlRefused):
            check_url(url)
    check_url(f"{image_server}/grace.jpg", allow_private=True)
    check_url("http://[::1]:8080/x.jpg", allow_private=True)  # IPv6 loopback is loopback, not "reserved"
    with pytest.raises(UrlRefused, match=r"resolves to 0\.0\.0\.0, an unspecified address"):
        check_url("http://0.0.0.0/")
    with pytest.raises(UrlRefused, match="a loopback address"):
        check_url("http://[::1]/")
    with pytest.raises(UrlRefused):
        check_url("http://169.254.169.254/", allow_private=True)
    # The connection itself refuses, whatever checked (or did not check) the URL before.
    with guarded_session(allow_private=False) as session, pytest.raises(UrlRefused):
        session.get(f"{image_server}/grace.jpg", timeout=5)
    with guarded_session(allow_private=True) as session:
        assert session.get(f"{image_server}/grace.jpg", timeout=5).status_code == 200


# ---------------------------------------------------------------- the command, without a model


def test_serve_command_refuses_a_missing_model_path_at_once(tmp_path: Path) -> None:
    """Checked before the heavy imports; the server does not start on a typo."""
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(_free_port()), "--model", str(tmp_path / "absent")],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "absent does not exist" in done.stderr
    import_lines = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline.cli", "serve", "--help"], cwd=tmp_path,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60).stderr
    assert " torch\n" not in import_lines and "fastapi" not in import_lines


def test_serve_command_with_a_broken_model_starts_and_explains(tmp_path: Path, image_server: str) -> None:
    port = _free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'none.db'}"}
    broken = tmp_path / "broken"
    for kind in ("gmm", "tom"):
        (broken / kind).mkdir(parents=True)
        (broken / kind / "model.pt").write_bytes(b"not a checkpoint")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port), "--model", str(broken)],
                            cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 90
            while True:
                try:
                    health = c.get("/api/v1/health").json()
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "vton serve did not come up"
                    time.sleep(0.2)
            assert health["model_loaded"] is False and health["status"] == "degraded"
            # Not ready: 503 for probes, with the same JSON for people.
            assert c.get("/api/v1/health").status_code == 503 and c.head("/api/v1/health").status_code == 503
            assert "--model" in health["detail"]
            msg = _error(c.post(TRYON, files=_files(b"x", b"y")), 503, "model_not_loaded")
            assert "--model" in msg
            # The default policy refuses loopback downloads (SSRF guard), before looking for a model.
            item = {"person_url": f"{image_server}/grace.jpg", "garment_url": f"{image_server}/tee.png"}
            assert "loopback" in _error(c.post("/api/v1/batch", json={"items": [item]}), 422, "url_refused")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_command_refuses_bad_config_and_taken_port(tmp_path: Path) -> None:
    from pipeline.cli import main

    bad = tmp_path / "api.yaml"
    bad.write_text("api:\n  max_upload_bytes: 1000\n  queue_sise: 3\n")
    assert main(["serve", "--config", str(bad)]) == 2
    bad.write_text("engine:\n  modle: x\n")
    assert main(["serve", "--config", str(bad)]) == 2
    with pytest.raises(ValueError, match="queue_sise"):
        ApiConfig.from_dict({"queue_sise": 3})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1]), "--model", str(tmp_path)]) == 1


def test_queue_is_checked_before_decoding_and_abandoned_requests_free_their_slot(bundle: Path, pictures: dict[str, bytes]) -> None:
    config = ApiConfig(max_upload_bytes=300_000, max_image_pixels=1_000_000, workers=1, queue_size=1, engine={"device": "cpu"})
    app = create_app(config, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    release = threading.Event()
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        pool = app.state.vton.pool
        pool.submit(release.wait, 60)  # the only worker is busy
        try:
            # A request queued behind it whose client gives up ...
            with pytest.raises(httpx.TimeoutException):
                httpx.post(f"{server.url}{TRYON}", files=_files(pictures["grace"], pictures["red_tee"]), timeout=2.0)
            # ... is dropped from the queue: its slot is free again while the worker is still busy.
            deadline = time.monotonic() + 10
            while pool.in_flight > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert pool.in_flight == 1
            pool.submit(release.wait, 60)  # now the line is full
            # The queue is checked first: even bytes that are no image get the 503, decoded or not.
            resp = c.post(TRYON, files=_files(b"not an image at all", pictures["red_tee"]))
            _error(resp, 503, "queue_full")
            assert resp.headers["Retry-After"]
        finally:
            release.set()
        deadline = time.monotonic() + 10
        while pool.in_flight and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.post(TRYON, files=_files(pictures["grace"], pictures["red_tee"])).status_code == 200


def test_a_dripping_server_costs_its_item_its_deadline_not_the_job(bundle: Path, image_server: str) -> None:
    from tests.test_fetch_deadline import _serve

    drip = _serve("drip")
    drip_url, _ = next(drip)
    config = ApiConfig(engine={"device": "cpu"}, batch=BatchConfig(allow_private_urls=True, download_timeout_s=2.0,
                                                                    read_timeout_s=8.0, retries=1))
    app = create_app(config, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    items = [{"person_url": drip_url, "garment_url": f"{image_server}/tee.png"},
             {"person_url": f"{image_server}/grace.jpg", "garment_url": f"{image_server}/tee.png"}]
    try:
        with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as c:
            t0 = time.monotonic()
            job = _wait_done(c, c.post("/api/v1/batch", json={"items": items}).json()["job_id"])
            took = time.monotonic() - t0
    finally:
        drip.close()
    first, second = job["items"]
    assert first["status"] == "error" and first["error"]["code"] == "download_failed" and "timeout" in first["error"]["message"]
    assert second["status"] == "ok"
    # Cut at its 2 s deadline (not retried, not waiting for 100 kB at 5 bytes/s); the good item went meanwhile.
    assert 1.5 <= first["processing_time"] <= 4.5 and took < 30


def test_slow_headers_and_slow_bodies_are_cut_at_their_deadlines(bundle: Path) -> None:
    from pipeline.api.slow_clients import server_config

    config = ApiConfig(header_timeout_s=1.0, body_timeout_s=1.5, engine={"device": "cpu"})
    app = create_app(config, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    server = ThreadedServer(app)
    server.server = uvicorn.Server(server_config(app, config, host="127.0.0.1", port=server.port, log_level="warning"))
    server.thread = threading.Thread(target=server.server.run, daemon=True)

    def closed_within(sock: socket.socket, seconds: float) -> bool:
        sock.settimeout(seconds)
        try:
            while sock.recv(4096):
                pass  # a response to a cut request, if any, then the close
            return True
        except (TimeoutError, socket.timeout):
            return False
        except OSError:
            return True

    with server:
        slow_headers = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        for s in slow_headers:
            s.sendall(b"POST /api/v1/tryon HTTP/1.1\r\nHost: x\r\n")  # ... and never the rest
        slow_body = socket.create_connection(("127.0.0.1", server.port))
        slow_body.sendall(b"POST /api/v1/tryon HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                          b"Content-Length: 100000\r\n\r\n--b\r\n")
        t0 = time.monotonic()
        assert all(closed_within(s, 4.0) for s in slow_headers)
        assert closed_within(slow_body, 4.0)
        assert time.monotonic() - t0 < 5.0
        for s in slow_headers + [slow_body]:
            s.close()
        # A normal client is unaffected.
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/api/v1/health").status_code == 200


def test_optional_rate_limit_answers_429_with_retry_after(bundle: Path, pictures: dict[str, bytes]) -> None:
    from pipeline.api.rate_limit import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(2)] == [0.0, 0.0] and buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] = 1.0
    assert buckets.take("a") == 0.0
    # Off by default (every test above made many requests); on, the third quick request is refused.
    config = ApiConfig(rate_limit_per_minute=6, rate_limit_burst=2, engine={"device": "cpu"})
    app = create_app(config, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        codes = [c.post(TRYON, files=_files(b"x", b"y")).status_code for _ in range(3)]
        assert codes[:2] == [415, 415] and codes[2] == 429
        resp = c.post(TRYON, files=_files(b"x", b"y"))
        assert _error(resp, 429, "rate_limited") and int(resp.headers["Retry-After"]) >= 1
        assert c.get("/api/v1/health").status_code == 200  # reads are not limited
