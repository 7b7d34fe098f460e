"""Engine, sessions (one unit of work per request or task) and enqueue-after-commit."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .settings import get_settings

log = logging.getLogger("ssnas.db")
_AFTER_COMMIT = "ssnas_after_commit"


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process; SQLite gets WAL and a busy timeout for the worker."""
    s = get_settings()
    url = url or s.database_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # overflow above the route threadpool (40 threads by default), so threads never queue for
    # connections held by each other; idle overflow connections are closed again
    return create_engine(url, pool_size=s.db_pool_size, max_overflow=max(40, s.db_pool_size * 2),
                         pool_pre_ping=True, pool_timeout=10)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@lru_cache
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def SessionLocal() -> Session:  # noqa: N802 - reads like the class it builds
    """A new session on the configured database."""
    return _factory(get_settings().database_url)()


@contextmanager
def session_scope() -> Iterator[Session]:
    """Commit on success, roll back on error, always close."""
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once this session's transaction commits; dropped on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    for fn in session.info.pop(_AFTER_COMMIT, []):
        try:
            fn()
        except Exception:  # the row stays queued; the reaper re-sends it
            log.exception("after-commit hook failed")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def enqueue_after_commit(session: Session, job_id: str, queue: str) -> None:
    """Send task ``ssnas.run_job(job_id)`` on ``queue`` after the job row is committed."""
    from .broker import send_run_job

    after_commit(session, lambda: send_run_job(job_id, queue))


def reset_engines() -> None:
    """Forget cached engines and factories (tests switching databases)."""
    for fn in (get_engine, _factory):
        fn.cache_clear()
