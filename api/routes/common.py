"""The statuses every route documents in OpenAPI (errors are ``{"detail": ...}``)."""

from __future__ import annotations

from typing import Any

from ..schemas import ErrorOut

_RETRY = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}
DESCRIPTIONS = {
    400: "malformed body (not what its content type says)",
    401: "missing, invalid or revoked API key",
    404: "not found (or another owner's)",
    409: "conflicts with the resource's state",
    413: "too large, or over the owner's storage quota",
    415: "unsupported content type or format",
    422: "a value out of range or of the wrong kind (the message names it)",
    429: "too many unfinished jobs",
    503: "the database or the broker is unavailable; retry after Retry-After seconds",
}


def responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error ``codes`` (401 and 503 always; 422 replaces FastAPI's
    list-only schema); ``described`` (``_409="..."``) overrides a description."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 422, 503, *codes}):
        entry: dict[str, Any] = {"model": ErrorOut,
                                 "description": described.get(f"_{code}", DESCRIPTIONS[code])}
        if code in (429, 503):
            entry["headers"] = _RETRY
        out[code] = entry
    return out
