"""Service tests run on the real Postgres (a fresh database per session, dropped at the end)
and the real Redis broker; they fail loudly when either is unreachable."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import redis
from api_factories import create_database, drop_database, make_key, pg_url
from fastapi.testclient import TestClient
from sqlalchemy import text

from store import broker
from store.db import get_engine, reset_engines
from store.settings import get_settings

REDIS_URL = os.environ.get("SSNAS_TEST_REDIS", "redis://127.0.0.1:6379/9")
TABLES = "api_keys, datasets, jobs, job_metrics, job_logs, checkpoints, checkpoint_chunks, models"


def _reset_caches() -> None:
    get_settings.cache_clear()
    reset_engines()
    broker.celery_app.cache_clear()


@pytest.fixture(scope="session")
def service_env(tmp_path_factory) -> Iterator[str]:
    """Env for the whole session: own database (migrated), storage dir, broker DB."""
    from api.cli import migrate

    name = create_database()
    url = pg_url(name)
    data = tmp_path_factory.mktemp("ssnas_data")
    mp = pytest.MonkeyPatch()
    for key, value in {"SSNAS_DATABASE_URL": url, "SSNAS_DATA_DIR": str(data),
                       "SSNAS_BROKER_URL": REDIS_URL, "SSNAS_LOG_JSON": "true"}.items():
        mp.setenv(key, value)
    _reset_caches()
    try:
        migrate(url)
        yield url
    finally:
        get_engine().dispose()
        mp.undo()
        _reset_caches()
        drop_database(name)


@pytest.fixture
def db(service_env) -> Iterator[str]:
    """Each test starts from empty tables and an empty storage folder (emptied afterwards)."""
    yield service_env
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} CASCADE"))
    shutil.rmtree(get_settings().storage_dir, ignore_errors=True)


@pytest.fixture
def settings_env(db, monkeypatch):
    """``settings_env(SSNAS_MAX_UPLOAD_BYTES=...)`` changes settings for one test."""
    def apply(**env: str) -> None:
        for k, v in env.items():
            monkeypatch.setenv(k, str(v))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


@pytest.fixture
def client(db) -> Iterator[TestClient]:
    from api.main import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def alice(db) -> dict[str, str]:
    return make_key("alice")


@pytest.fixture
def bob(db) -> dict[str, str]:
    return make_key("bob")


@pytest.fixture
def broker_queue() -> Iterator[redis.Redis]:
    """The test broker DB; messages our tests sent to the 'cpu'/'gpu' queues are removed after."""
    r = redis.Redis.from_url(REDIS_URL)
    r.ping()
    yield r
    prefix = broker.celery_app().conf.broker_transport_options.get("global_keyprefix", "")
    for q in ("cpu", "gpu"):
        r.delete(prefix + q)
