"""Annotated dependencies: a session per request and the caller's owner id."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from .auth import owner_for_key
from .db import SessionLocal
from .errors import Unauthorized
from .settings import Settings, get_settings


def get_db() -> Iterator[Session]:
    """One session (unit of work) per request; routes commit through services."""
    session = SessionLocal()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_owner(request: Request, session: SessionDep, settings: SettingsDep) -> str:
    """The owner id of the ``Authorization: Bearer <key>`` header, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized()
    owner = owner_for_key(session, key.strip(), settings.auth_cache_s)
    if owner is None:
        raise Unauthorized("invalid or revoked API key")
    request.state.owner_id = owner
    return owner


OwnerDep = Annotated[str, Depends(get_owner)]
