"""Annotated dependencies: a database runner per request and the caller's owner id.

Why a runner instead of a request-scoped Session: FastAPI validates the response of a sync
route on the same threadpool that runs routes, after the route returns. A session held until
then keeps a pooled connection while the request waits for a thread, and under load (200
pollers) every thread ends up waiting for a connection held by a request waiting for a
thread. ``await db.run(fn, ...)`` runs ``fn(session, ...)`` in a worker thread with its own
session and closes it before the thread is released, so a thread never waits for a
connection (the pool allows more connections than there are threads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from store.db import SessionLocal, get_read_engine, run_read
from store.settings import Settings, get_settings

from .auth import hash_key, owner_cache, owner_for_key
from .errors import Unauthorized

T = TypeVar("T")


class Db:
    """Runs one unit of work in a worker thread with a fresh session."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(self.call, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``run`` for lookups that write nothing (autocommit session, no ping)."""
        return await run_in_threadpool(run_read, fn, *args)

    async def point_read(self, fn: Callable[..., T], *args: Any) -> T:
        """A primary-key lookup run on the event loop itself when an idle pooled connection is
        there to take, else like ``read``.

        For the polling route: handing each request to a thread and back cost more CPU than
        the lookup (two thread wake-ups and GIL hand-overs per request; with 200 pollers on two
        cores that set the p99). An autocommit read by key never waits for a lock in Postgres,
        so the loop blocks for one round trip (well under a millisecond here); it never waits
        for a connection to be freed or opened (a busy pool or a database that went away).
        """
        if get_read_engine().pool.checkedin() > 0:
            try:
                return run_read(fn, *args, retry=False)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
            # the pooled connection had died (database restarted or gone): connecting anew may
            # wait up to the connect timeout, so that happens in a thread, never on the loop
        return await self.read(fn, *args)

    @staticmethod
    def call(fn: Callable[..., T], *args: Any) -> T:
        with SessionLocal() as session:
            return fn(session, *args)


_DB = Db()


async def get_db() -> Db:
    return _DB


async def settings_dep() -> Settings:
    return get_settings()


DbDep = Annotated[Db, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]


def _lookup_owner(session: Session, key: str, cache_s: float) -> str | None:
    return owner_for_key(session, key, cache_s)


async def get_owner(request: Request, settings: SettingsDep) -> str:
    """The owner id of the ``Authorization: Bearer <key>`` header, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized()
    owner = owner_cache.get(hash_key(key), settings.auth_cache_s) if settings.auth_cache_s else None
    if owner is None:
        owner = await _DB.read(_lookup_owner, key, settings.auth_cache_s)
    if owner is None:
        raise Unauthorized("invalid or revoked API key")
    request.state.owner_id = owner
    return owner


OwnerDep = Annotated[str, Depends(get_owner)]
