"""Errors of the shared layer that a client may see: each carries its HTTP status.

The state machine, the quotas and the storage raise these; the API turns them into responses
(``api.errors.install_handlers``), the worker records their message on the job row.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of every error a client may see; ``status`` is the HTTP status."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    """A body that is not what its content type says (malformed multipart, bad JSON)."""

    status = 400


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

    def __init__(self, detail: str, retry_after_s: int = 5):
        super().__init__(detail, {"Retry-After": str(retry_after_s)})
