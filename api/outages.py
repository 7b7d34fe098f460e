"""Database or broker unreachable: every route answers 503 with ``Retry-After`` and a JSON error,
never a 500 or a dropped connection; the next request after recovery is served as usual.

What counts as "unreachable": the driver could not connect or lost the connection
(``OperationalError``, ``InterfaceError``, an invalidated connection), no pooled connection came
free in time (``sqlalchemy.exc.TimeoutError``), or the broker's transport failed.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

log = logging.getLogger("ssnas.api")
RETRY_AFTER_S = 5
DB_DOWN = "the database is unavailable; retry later"
BROKER_DOWN = "the job queue (broker) is unavailable; retry later"


def is_db_outage(exc: BaseException) -> bool:
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def broker_errors() -> tuple[type[BaseException], ...]:
    import kombu.exceptions
    import redis.exceptions

    return (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


def install(app: FastAPI) -> None:
    @app.exception_handler(sa_exc.DBAPIError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if is_db_outage(exc):
            log.warning("database unavailable: %s", type(exc).__name__, extra={"path": request.url.path})
            return unavailable(DB_DOWN)
        if isinstance(exc, sa_exc.DataError):  # a value the database refuses (out of its range)
            log.warning("database refused a value", exc_info=exc, extra={"path": request.url.path})
            return JSONResponse({"detail": "a value in the request is out of range"}, status_code=422)
        log.exception("database error", exc_info=exc, extra={"path": request.url.path})
        rid = getattr(request.state, "request_id", None)
        return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)

    for cls in broker_errors():
        app.add_exception_handler(cls, _broker)


async def _broker(request: Request, exc: Exception) -> JSONResponse:
    log.warning("broker unavailable: %s", type(exc).__name__, extra={"path": request.url.path})
    return unavailable(BROKER_DOWN)
