"""The try-on page in a real headless Chromium (Debian's, driven by Playwright) against a real server on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import matplotlib.cbook
import pytest
from PIL import Image, ImageDraw

from pipeline.api.app import create_app
from pipeline.api.config import ApiConfig
from pipeline.infer.engine import TryOnEngine
from pipeline.infer.types import EngineConfig
from tests.test_api import ThreadedServer
from tests.train_helpers import write_random_bundle

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make test installs it)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's package when it can)")
GRACE = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    bundle = write_random_bundle(tmp_path_factory.mktemp("bundle"), (256, 192))
    config = ApiConfig(examples=1, engine={"device": "cpu"})
    app = create_app(config, lambda: TryOnEngine.load(EngineConfig(model=str(bundle), device="cpu")))
    with ThreadedServer(app) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture()
def page(browser: object, server: ThreadedServer) -> Iterator[object]:
    context = browser.new_context()  # type: ignore[attr-defined]
    # Offline: any request off the server fails, so a CDN dependency would show.
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.url) else route.abort())
    pg = context.new_page()
    yield pg
    context.close()


def _tee(path: Path) -> Path:
    img = Image.new("RGB", (300, 400), "white")
    ImageDraw.Draw(img).polygon([(90, 60), (210, 60), (280, 130), (240, 160), (220, 140), (220, 340), (80, 340),
                                 (80, 140), (60, 160), (20, 130)], fill=(190, 30, 40))
    img.save(path)
    return path


def test_upload_a_pair_and_see_the_result(page: object, server: ThreadedServer, tmp_path: Path) -> None:
    pg = page
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.wait_for_selector("#health.ok", timeout=60_000)  # type: ignore[attr-defined]
    assert "bundle" in pg.inner_text("#health")  # type: ignore[attr-defined]  # which model answers
    pg.set_input_files("#person", str(GRACE))  # type: ignore[attr-defined]
    pg.set_input_files("#garment", str(_tee(tmp_path / "tee.png")))  # type: ignore[attr-defined]
    pg.click("#tryon-button")  # type: ignore[attr-defined]
    pg.wait_for_function("document.querySelector('#result').naturalWidth > 0", timeout=120_000)  # type: ignore[attr-defined]
    size = pg.evaluate("[document.querySelector('#result').naturalWidth, document.querySelector('#result').naturalHeight]")  # type: ignore[attr-defined]
    assert tuple(size) == Image.open(GRACE).size
    assert pg.is_visible("#download") and "s)" in pg.inner_text("#timing")  # type: ignore[attr-defined]
    assert pg.is_hidden("#error")  # type: ignore[attr-defined]


def test_a_bad_upload_shows_a_readable_message(page: object, server: ThreadedServer, tmp_path: Path) -> None:
    pg = page
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    (tmp_path / "notes.jpg").write_text("not a picture")
    pg.set_input_files("#person", str(tmp_path / "notes.jpg"))  # type: ignore[attr-defined]
    pg.set_input_files("#garment", str(_tee(tmp_path / "tee.png")))  # type: ignore[attr-defined]
    pg.click("#tryon-button")  # type: ignore[attr-defined]
    pg.wait_for_selector("#error:not([hidden])", timeout=60_000)  # type: ignore[attr-defined]
    text = pg.inner_text("#error")  # type: ignore[attr-defined]
    assert "not a picture" in text and "{" not in text  # a sentence, not JSON


def test_an_example_pair_can_be_picked(page: object, server: ThreadedServer) -> None:
    pg = page
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.wait_for_selector("#example-list img.example", timeout=120_000)  # type: ignore[attr-defined]
    pg.click("#example-list img.example")  # type: ignore[attr-defined]
    pg.wait_for_function("document.querySelector('#garment-preview').naturalWidth > 0", timeout=30_000)  # type: ignore[attr-defined]


def test_api_docs_render_offline(page: object, server: ThreadedServer) -> None:
    pg = page
    pg.goto(server.url + "/docs")  # type: ignore[attr-defined]
    pg.wait_for_selector(".swagger-ui .opblock", timeout=60_000)  # type: ignore[attr-defined]
    assert "/api/v1/tryon" in pg.inner_text(".swagger-ui")  # type: ignore[attr-defined]


def test_an_example_clicked_after_choosing_files_is_what_is_sent(page: object, server: ThreadedServer, tmp_path: Path) -> None:
    """The previews and the upload agree: the last choice wins, and an older result is cleared."""
    pg = page
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.wait_for_selector("#example-list img.example", timeout=120_000)  # type: ignore[attr-defined]
    pg.set_input_files("#person", str(GRACE))  # type: ignore[attr-defined]
    pg.set_input_files("#garment", str(_tee(tmp_path / "tee.png")))  # type: ignore[attr-defined]
    pg.click("#example-list img.example")  # type: ignore[attr-defined]
    pg.wait_for_function("document.querySelector('#person').value === ''", timeout=30_000)  # type: ignore[attr-defined]
    example = pg.evaluate("[document.querySelector('#example-list img.example').naturalWidth, "  # type: ignore[attr-defined]
                          "document.querySelector('#example-list img.example').naturalHeight]")
    assert tuple(example) != Image.open(GRACE).size
    pg.click("#tryon-button")  # type: ignore[attr-defined]
    pg.wait_for_function("document.querySelector('#result').naturalWidth > 0", timeout=120_000)  # type: ignore[attr-defined]
    size = pg.evaluate("[document.querySelector('#result').naturalWidth, document.querySelector('#result').naturalHeight]")  # type: ignore[attr-defined]
    assert tuple(size) == tuple(example)  # the example's person was sent, not the file chosen before
    # A refused request next: the earlier result must not stay beside the new inputs.
    (tmp_path / "notes.jpg").write_text("not a picture")
    pg.set_input_files("#person", str(tmp_path / "notes.jpg"))  # type: ignore[attr-defined]
    pg.click("#tryon-button")  # type: ignore[attr-defined]
    pg.wait_for_selector("#error:not([hidden])", timeout=60_000)  # type: ignore[attr-defined]
    assert pg.evaluate("document.querySelector('#result').getAttribute('src')") is None  # type: ignore[attr-defined]
    assert pg.is_hidden("#download")  # type: ignore[attr-defined]


@pytest.mark.parametrize("final", ["interrupted", "gone"])
def test_batch_progress_stops_on_every_final_state(page: object, server: ThreadedServer, final: str) -> None:
    """The page stops polling and says what happened when a job is interrupted or the server forgot it."""
    import json as _json

    pg = page
    polls = {"n": 0}

    def job(route: object) -> None:
        polls["n"] += 1
        if final == "gone" and polls["n"] > 1:
            route.fulfill(status=404, content_type="application/json",  # type: ignore[attr-defined]
                          body=_json.dumps({"status": "error", "error": {"code": "not_found", "message": "no such job"}}))
            return
        state = "running" if polls["n"] == 1 else "interrupted"
        route.fulfill(status=200, content_type="application/json", body=_json.dumps(  # type: ignore[attr-defined]
            {"job_id": "j1", "status": state, "total": 12, "completed": 5, "succeeded": 5, "failed": 0, "items": []}))

    pg.route("**/api/v1/batch", lambda r: r.fulfill(status=202, content_type="application/json",  # type: ignore[attr-defined]
                                                      body=_json.dumps({"job_id": "j1", "items": 12, "status": "accepted"})))
    pg.route("**/api/v1/batch/j1", job)  # type: ignore[attr-defined]
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.click(".tab[data-tab='batch']")  # type: ignore[attr-defined]
    pg.fill("#batch-urls", "https://example.com/p.jpg https://example.com/g.jpg")  # type: ignore[attr-defined]
    pg.click("#batch-form button[type=submit]")  # type: ignore[attr-defined]
    pg.wait_for_selector("#batch-error:not([hidden])", timeout=30_000)  # type: ignore[attr-defined]
    text = pg.inner_text("#batch-error")  # type: ignore[attr-defined]
    if final == "interrupted":
        assert "stopped" in text and "5 of 12" in text and pg.is_visible("#batch-download")  # type: ignore[attr-defined]
    else:
        assert "no longer knows" in text
    n = polls["n"]
    pg.wait_for_timeout(2500)  # type: ignore[attr-defined]
    assert polls["n"] == n  # polling stopped
