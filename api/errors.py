"""Domain errors carry their HTTP status; one handler turns them into {"detail": ...}."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from store.errors import (  # noqa: F401 - the errors a route may raise
    ApiError,
    BadRequest,
    Conflict,
    Invalid,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

log = logging.getLogger("ssnas.api")


def json_safe(value: Any, max_str: int = 200) -> Any:
    """``value`` as strict JSON can carry it: NaN and infinities as strings, long strings cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str) and len(value) > max_str:
        return value[:max_str] + "..."
    if isinstance(value, dict):
        return {str(k)[:max_str]: json_safe(v, max_str) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, max_str) for v in value]
    return value


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # the errors echo the input, which may hold NaN (not JSON) or megabytes of text
        return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 405:
            return _method_not_allowed(request)
        return await http_exception_handler(request, exc)

    install_outage_handlers(app)

    from store.storage import BlobError

    @app.exception_handler(BlobError)
    async def _blob(_request: Request, exc: BlobError) -> JSONResponse:
        log.error("stored blob unusable: %s", exc)
        return JSONResponse({"detail": "the stored weights are incomplete or damaged"}, status_code=409)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        rid = getattr(request.state, "request_id", None)
        return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names one route's)."""
    methods = {"OPTIONS"}
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return sorted(methods)


def _method_not_allowed(request: Request) -> Response:
    """OPTIONS: 204 with ``Allow``; any other method the path lacks: 405 with the full ``Allow``."""
    allow = {"Allow": ", ".join(allowed_methods(request))}
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=allow)
    return JSONResponse({"detail": f"method {request.method} not allowed; allowed: {allow['Allow']}"},
                        status_code=405, headers=allow)


def install_outage_handlers(app: FastAPI) -> None:
    from .outages import install

    install(app)
