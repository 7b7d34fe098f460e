"""/health: is the database reachable, is the broker reachable (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from ..broker import broker_ok
from ..db import SessionLocal
from ..schemas import Health

router = APIRouter(tags=["health"])


def _db_ok() -> tuple[bool, str]:
    try:
        with SessionLocal() as session:
            session.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health() -> JSONResponse:
    """200 when the database and the broker answer, else 503 with what failed."""
    (db, db_msg), (br, br_msg) = _db_ok(), broker_ok()
    body = Health(status="ok" if db and br else "degraded", database=db_msg, broker=br_msg)
    return JSONResponse(body.model_dump(), status_code=200 if db and br else 503)
