"""Engine, sessions (one unit of work per request or task) and enqueue-after-commit."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .settings import get_settings

log = logging.getLogger("ssnas.db")
_AFTER_COMMIT = "ssnas_after_commit"
T = TypeVar("T")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process; SQLite gets WAL and a busy timeout for the worker."""
    return _engine(url or get_settings().database_url)


def get_read_engine(url: str | None = None) -> Engine:
    """The engine of read-only lookups (polling, auth): autocommit and no ping on checkout.

    A poll then costs one round trip instead of four (ping, BEGIN, SELECT, ROLLBACK): about
    1.3 ms less per GET /jobs/{id} here. A pooled connection that died meanwhile (database
    restarted) is not pinged first; ``run_read`` retries the lookup once on a fresh one.
    """
    url = url or get_settings().database_url
    return _engine(url) if url.startswith("sqlite") else _read_engine(url)


@lru_cache
def _engine(url: str) -> Engine:
    s = get_settings()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # writes are rare next to reads (the read engine keeps most connections open); the overflow
    # covers the route threadpool (40 threads by default), so threads never queue for
    # connections held by each other; a thread holds one connection at a time, so the two
    # engines together stay at 40 connections in use per process
    keep = max(1, s.db_pool_size // 4)
    return create_engine(url, pool_size=keep, max_overflow=max(40 - keep, 10), pool_pre_ping=True,
                         pool_timeout=10)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@lru_cache
def _read_engine(url: str) -> Engine:
    # pool_size connections stay open: opening one forks a Postgres backend, and under 200
    # pollers a pool of 10 spent much of its time opening and closing overflow connections
    s = get_settings()
    return create_engine(url, pool_size=s.db_pool_size, max_overflow=max(40 - s.db_pool_size, 10),
                         pool_timeout=10, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


@lru_cache
def _factory(url: str, read: bool = False) -> sessionmaker[Session]:
    return sessionmaker(bind=(get_read_engine if read else get_engine)(url), expire_on_commit=False)


def SessionLocal() -> Session:  # noqa: N802 - reads like the class it builds
    """A new session on the configured database."""
    return _factory(get_settings().database_url)()


def ReadSession() -> Session:  # noqa: N802 - reads like the class it builds
    """A session for lookups that write nothing (autocommit: each statement sees committed rows)."""
    return _factory(get_settings().database_url, True)()


def warm_read_pool(count: int) -> int:
    """Open ``count`` read connections now and return them to the pool, so the first burst of
    polls after a start does not wait for Postgres backends to fork. Returns how many opened."""
    engine = get_read_engine()
    if engine.dialect.name == "sqlite":
        return 0
    conns = []
    try:
        for _ in range(min(count, engine.pool.size())):
            conns.append(engine.connect())
    finally:
        for conn in conns:
            conn.close()
    return len(conns)


def run_read(fn: Callable[..., T], *args: Any, retry: bool = True) -> T:
    """``fn(session, *args)`` on a read session, once more (with ``retry``) if the connection was
    found dead."""
    for attempt in (1, 2):
        try:
            with ReadSession() as session:
                return fn(session, *args)
        except DBAPIError as exc:
            if attempt == 2 or not retry or not exc.connection_invalidated:
                raise
            log.warning("pooled connection was dead; retrying the lookup on a new one")
    raise AssertionError("unreachable")


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


def reset_engines() -> None:
    """Forget cached engines and factories (tests switching databases)."""
    for fn in (_engine, _read_engine, _factory):
        fn.cache_clear()
