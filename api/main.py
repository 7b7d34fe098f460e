"""The FastAPI application: ``uvicorn api.main:app`` or ``create_app()`` in tests."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from store.settings import get_settings

from .errors import install_handlers
from .logs import RequestIdMiddleware, configure_logging
from .memory import gc_freeze
from .routes import datasets, health, jobs, models
from .ui import mount_ui

DESCRIPTION = """Self-supervised multimodal neural architecture search as a service.

Upload a dataset, submit a search job, poll it, download the genotype and weights, predict.
Every route except `/health` and the docs needs `Authorization: Bearer <API key>`
(create keys with `python -m api keys create --owner NAME`)."""


@asynccontextmanager
async def lifespan(_app: FastAPI):
    """At start-up: remove upload folders left by a process killed mid-upload, open half the
    read pool, then exempt the start-up objects from garbage collection (``gc_freeze``)."""
    from starlette.concurrency import run_in_threadpool

    from store.db import warm_read_pool

    from .deps import Db
    from .services.datasets import sweep_orphan_uploads

    log = logging.getLogger("ssnas.api")
    try:
        await Db().run(sweep_orphan_uploads)
        await run_in_threadpool(warm_read_pool, max(1, get_settings().db_pool_size // 2))
    except Exception:  # noqa: BLE001 - neither must stop the API (the database may come later)
        log.warning("start-up sweep or pool warm-up failed", exc_info=True)
    gc_freeze()
    yield


def create_app() -> FastAPI:
    """A new app on the current settings (routes, error handlers, request-id logging)."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    app = FastAPI(title="ssnas", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    install_handlers(app)
    for module in (health, datasets, jobs, models):
        app.include_router(module.router)
    mount_ui(app)  # the dashboard's static files at /ui
    app.add_middleware(RequestIdMiddleware)
    return app


def __getattr__(name: str):
    """``api.main:app`` is built on first access, so importing this module reads no settings."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
