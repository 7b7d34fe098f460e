"""Domain errors carry their HTTP status; one handler turns them into {"detail": ...}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
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


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        rid = getattr(request.state, "request_id", None)
        return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)
