"""The try-on web page at ``/``, demo-shop examples for it, a batch job's results as a zip, and offline API docs.

The page is static HTML with a small script (``pipeline/api/static``) that calls the same REST
endpoints as any client: no second server, no build step, nothing fetched from a CDN. The
Swagger UI of ``/docs`` (version 5, which reads FastAPI's OpenAPI 3.1) is served from the
``fastapi-swagger`` package's copy of its assets, so the docs work without internet too.
"""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from pipeline.api.errors import ApiError
from pipeline.log import get_logger

log = get_logger(__name__)

STATIC = Path(__file__).with_name("static")


class Examples:
    """A few demo-shop products (person photo + garment shot), rendered once on first use."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._lock = threading.Lock()
        self._images: dict[str, bytes] | None = None
        self._items: list[dict[str, str]] = []

    def items(self) -> list[dict[str, str]]:
        """``[{name, person_url, garment_url}]``; empty when examples are off or the shop cannot be built."""
        self._build()
        return self._items

    def image(self, name: str) -> bytes | None:
        """JPEG bytes of one example picture."""
        self._build()
        return (self._images or {}).get(name)

    def _build(self) -> None:
        with self._lock:
            if self._images is not None:
                return
            self._images = {}
            if self.count <= 0:
                return
            try:
                from pipeline.demoshop.catalog import build_catalog
                from pipeline.demoshop.config import DemoShopConfig

                catalog = build_catalog(DemoShopConfig(products=self.count, traps=False))
            except Exception as exc:  # noqa: BLE001 - the page works without examples
                log.warning("no demo examples for the page", error=str(exc)[:300])
                return
            for product in catalog.products[: self.count]:
                garment, person = product.images[0], product.images[1]
                names = (f"{product.product_id}-model.jpg", f"{product.product_id}-garment.jpg")
                self._images[names[0]] = catalog.images[person]
                self._images[names[1]] = catalog.images[garment]
                self._items.append({"name": product.name, "person_url": f"/api/v1/examples/{names[0]}",
                                    "garment_url": f"/api/v1/examples/{names[1]}"})


def results_zip(job: dict[str, Any], folder: Path) -> bytes:
    """The finished items of a batch job as one zip: ``NNN.<ext>`` results, ``NNN_mask.png`` masks, ``errors.txt``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # JPEG/PNG do not compress further
        errors = []
        for item in job["items"]:
            index = int(item["index"])
            if item["status"] == "ok":
                for name in (item.get("result_file"), item.get("mask_file")):
                    if name and (folder / name).is_file():
                        zf.write(folder / name, name)
            elif item["status"] == "error":
                err = item.get("error") or {}
                errors.append(f"{index:03d} {item.get('person_url', '')} {item.get('garment_url', '')}: "
                              f"{err.get('code', '')} {err.get('message', '')}")
        if errors:
            zf.writestr("errors.txt", "\n".join(errors) + "\n")
    return buf.getvalue()


def install_webpage(app: FastAPI, api_prefix: str, examples: Examples) -> None:
    """Add ``/``, ``/static``, ``/docs``, the examples and the results-zip routes to ``app``."""
    import fastapi_swagger.resources

    assets = Path(fastapi_swagger.resources.__file__).parent
    app.mount("/static/swagger", StaticFiles(directory=assets), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} docs",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css", swagger_favicon_url="")

    @app.get(f"{api_prefix}/examples", tags=["web page"])
    async def example_list() -> dict[str, Any]:
        """Demo-shop example pairs the page offers (empty when examples are off)."""
        from starlette.concurrency import run_in_threadpool

        return {"items": await run_in_threadpool(examples.items)}

    @app.get(f"{api_prefix}/examples/{{name}}", tags=["web page"], include_in_schema=False)
    async def example_image(name: str) -> Response:
        from starlette.concurrency import run_in_threadpool

        data = await run_in_threadpool(examples.image, name)
        if data is None:
            raise ApiError(404, "not_found", f"no example picture {name}")
        return Response(data, media_type="image/jpeg")

    @app.get(f"{api_prefix}/batch/{{job_id}}/results.zip", tags=["batch"])
    async def batch_zip(request: Request, job_id: str) -> Response:
        """The finished results of a batch job as a zip (``NNN.jpg``, masks, ``errors.txt``)."""
        from starlette.concurrency import run_in_threadpool

        jobs = request.app.state.vton.jobs
        job = await run_in_threadpool(jobs.get, job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no batch job {job_id}: unknown, or expired")
        data = await run_in_threadpool(results_zip, job, jobs.store.results_dir / job_id)
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="tryon-{job_id}.zip"'})
