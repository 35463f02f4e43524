"""One JSON error shape for every failure: ``{"status": "error", "error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.log import get_logger

log = get_logger(__name__)


class ApiError(Exception):
    """An answer other than 2xx: HTTP ``status``, a slug ``code`` and a sentence for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"status": "error", "error": {"code": code, "message": message}}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Replace FastAPI's default error shapes (``detail``) with :func:`error_body`."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        missing = any(err.get("type") == "missing" for err in exc.errors())
        return JSONResponse(error_body("missing_field" if missing else "invalid_request", _validation_message(exc)),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status, detail = exc.status_code, str(exc.detail)
        if status == 400 and "maximum size" in detail:
            # Starlette's multipart parser: a form field (options) over its part-size limit.
            status = 413
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
        return JSONResponse(error_body(codes.get(status, f"http_{status}"), detail), status_code=status,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", path=request.url.path, error=repr(exc), exc_info=True)
        return JSONResponse(error_body("internal_error", "the server failed on this request; see its log"), status_code=500)
