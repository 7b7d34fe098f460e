"""The FastAPI application: ``uvicorn api.main:app`` or ``create_app()`` in tests."""

from __future__ import annotations

from fastapi import FastAPI

from .errors import install_handlers
from .logs import RequestIdMiddleware, configure_logging
from .routes import datasets, health, jobs, models
from .settings import get_settings

DESCRIPTION = """Self-supervised multimodal neural architecture search as a service.

Upload a dataset, submit a search job, poll it, download the genotype and weights, predict.
Every route except `/health` and the docs needs `Authorization: Bearer <API key>`
(create keys with `python -m api keys create --owner NAME`)."""


def create_app() -> FastAPI:
    """A new app on the current settings (routes, error handlers, request-id logging)."""
    s = get_settings()
    configure_logging(s.log_level, s.log_json)
    app = FastAPI(title="ssnas", version="0.1.0", description=DESCRIPTION)
    install_handlers(app)
    for module in (health, datasets, jobs, models):
        app.include_router(module.router)
    app.add_middleware(RequestIdMiddleware)
    return app


def __getattr__(name: str):
    """``api.main:app`` is built on first access, so importing this module reads no settings."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
