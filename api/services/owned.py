"""The one owner-scoped row lookup: another owner's row is indistinguishable from a missing one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound


def get_owned(session: Session, table, owner_id: str, row_id: str, what: str, lock: bool = False):
    """The ``table`` row ``row_id`` of ``owner_id`` (optionally FOR UPDATE); 404 otherwise."""
    q = select(table).where(table.id == row_id, table.owner_id == owner_id)
    row = session.scalar(q.with_for_update() if lock else q)
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row
