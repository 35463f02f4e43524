"""The README's `mlflow ui` promise: two runs of the embedded store compared in a real browser, offline."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's package when it can)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _two_runs(uri: str) -> tuple[str, list[str]]:
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("vesaki-vton")
    ids = []
    for lr, losses in (("0.0002", (0.30, 0.24)), ("0.0003", (0.28, 0.20))):
        run = client.create_run(exp, tags={"stage": "train_tom"})
        client.log_param(run.info.run_id, "lr", lr)
        for epoch, value in enumerate(losses, 1):
            client.log_metric(run.info.run_id, "val_l1", value, step=epoch)
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    return exp, ids


def test_mlflow_ui_compares_two_runs_without_network(tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    exp, runs = _two_runs(uri)
    port = _free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(mlflow_bin), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("mlflow ui did not start within 90 s")
                time.sleep(0.5)
        off_machine: list[str] = []
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def local_only(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(base):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    off_machine.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", local_only)
            query = urllib.parse.urlencode({"runs": json.dumps(runs), "experiments": json.dumps([exp])})
            page.goto(f"{base}/#/compare-runs?{query}")
            page.wait_for_selector("text=Comparing 2 Runs", timeout=60_000)
            page.wait_for_selector("text=0.0003", timeout=30_000)
            body = page.inner_text("body")
            browser.close()
        assert runs[0] in body and runs[1] in body
        assert "0.0002" in body and "val_l1" in body
        assert off_machine == []
    finally:
        server.terminate()
        server.wait(timeout=30)
