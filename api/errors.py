"""Domain errors carry their HTTP status; one handler turns them into {"detail": ...}."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("ssnas.api")


class ApiError(Exception):
    """Base of every error a client may see; ``status`` is the HTTP status."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class Unauthorized(ApiError):
    status = 401

    def __init__(self, detail: str = "missing or invalid API key (use 'Authorization: Bearer <key>')"):
        super().__init__(detail, {"WWW-Authenticate": "Bearer"})


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class Invalid(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429


class Unavailable(ApiError):
    status = 503


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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        rid = getattr(request.state, "request_id", None)
        return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)
