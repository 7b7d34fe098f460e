"""/health: is the database reachable, is the broker reachable (no API key needed)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from store.broker import broker_ok
from store.db import SessionLocal

from ..schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger("ssnas.api")


def _db_ok() -> tuple[bool, str]:
    try:
        with SessionLocal() as session:
            session.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        log.warning("health: database unavailable (%s)", type(exc).__name__, exc_info=True)
        return False, "unavailable"  # the reason goes to the log, never to the client


@router.get("/health", response_model=Health, responses={503: {
    "model": Health, "description": "the database or the broker is unavailable (with Retry-After)"}})
def health() -> JSONResponse:
    """200 when the database and the broker answer, else 503 naming which is unavailable."""
    (db, db_msg), (br, br_msg) = _db_ok(), broker_ok()
    body = Health(status="ok" if db and br else "degraded", database=db_msg, broker=br_msg)
    headers = None if db and br else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=200 if db and br else 503, headers=headers)
