"""Errors the client raises: every non-2xx answer becomes an ``ApiError`` with its HTTP status and
the API's own message (the ``detail`` of its JSON body)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error from the service: ``status`` (int), ``message`` (the API's detail), ``body``."""

    def __init__(self, status: int, message: str, body: Any = None, method: str = "", path: str = ""):
        self.status, self.message, self.body = status, message, body
        self.method, self.path = method, path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"HTTP {status}{where}: {message}")


class Unauthorized(ApiError):
    """401: missing, wrong or revoked API key."""


class NotFound(ApiError):
    """404: no such resource for this key's owner (other owners' resources answer the same)."""


class Conflict(ApiError):
    """409: the resource is not in a state that allows this (finished job, dataset in use, ...)."""


class Unavailable(ApiError):
    """503: the service (or a gateway in front of it) cannot answer now."""


class ConnectionFailed(Exception):
    """The service could not be reached at all (no HTTP answer)."""


class ChecksumMismatch(Exception):
    """A downloaded file's sha256 differs from the one the service announced."""


BY_STATUS = {401: Unauthorized, 404: NotFound, 409: Conflict, 503: Unavailable}


def error_for(status: int, body: Any, method: str, path: str) -> ApiError:
    """The ApiError subclass for ``status``, with the API's ``detail`` as its message."""
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        message = detail if isinstance(detail, str) else _validation_message(detail)
    else:
        message = str(body)[:500] if body else f"HTTP {status}"
    return BY_STATUS.get(status, ApiError)(status, message, body, method, path)


def _validation_message(detail: Any) -> str:
    """FastAPI's 422 list ([{loc, msg}, ...]) as one line."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []) if x != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)
