"""A job rides out a short database outage (Postgres restarted, a failover) instead of failing.

Each unit of work the worker does for a job opens its own session; when the database cannot be
reached, the whole unit runs again (its transaction was rolled back) with backoff, for up to
``SSNAS_DB_PATIENCE_S``. Training waits meanwhile; nothing is lost or written twice.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from .settings import get_worker_settings

T = TypeVar("T")
log = logging.getLogger("ssnas.worker")
TRANSIENT = (OperationalError, InterfaceError)


def with_db_retry(fn: Callable[[], T], what: str, patience_s: float | None = None) -> T:
    """``fn()``, run again while it fails because the database is unreachable."""
    patience = get_worker_settings().db_patience_s if patience_s is None else patience_s
    deadline, delay = time.monotonic() + patience, 0.2
    while True:
        try:
            return fn()
        except TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unreachable during %s (%s); retrying in %.1f s", what,
                        type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(2 * delay, 5.0)
