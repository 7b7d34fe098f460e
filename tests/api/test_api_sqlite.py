"""The default database URL is SQLite: the same flow works there (no FOR UPDATE, naive times)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_factories import make_features_zip, make_key, make_model
from fastapi.testclient import TestClient

from store import broker
from store import jobs as rt
from store.db import get_engine, reset_engines, session_scope
from store.settings import get_settings
from store.tables import Job, utcnow


@pytest.fixture
def sqlite_client(tmp_path, monkeypatch):
    from api.cli import migrate
    from api.main import create_app

    monkeypatch.setenv("SSNAS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SSNAS_DATABASE_URL", f"sqlite:///{tmp_path / 'ssnas.db'}")
    monkeypatch.setenv("SSNAS_BROKER_URL", "redis://127.0.0.1:6379/9")
    for clear in (get_settings.cache_clear, reset_engines, broker.celery_app.cache_clear):
        clear()
    migrate()
    try:
        with TestClient(create_app()) as c:
            yield c
    finally:
        get_engine().dispose()
        monkeypatch.undo()
        for clear in (get_settings.cache_clear, reset_engines, broker.celery_app.cache_clear):
            clear()


def test_flow_on_sqlite(sqlite_client, tmp_path, broker_queue):
    c, h = sqlite_client, make_key("alice")
    with open(make_features_zip(tmp_path, n=16), "rb") as fh:
        ds = c.post("/datasets", headers=h, files={"file": ("f.zip", fh)}).json()["id"]
    job = c.post("/jobs", headers=h, json={"dataset_id": ds}).json()["id"]
    with session_scope() as s:
        assert rt.claim_job(s, job, "w").status == "running"
        rt.append_metric(s, job, "search", 0, {"loss": 1.0})
    assert c.get(f"/jobs/{job}", headers=h).json()["latest_metrics"]["seq"] == 1
    with session_scope() as s:
        s.get(Job, job).heartbeat_at = utcnow() - timedelta(hours=1)
    with session_scope() as s:
        assert rt.requeue_lost(s) == [(job, "cpu")]
    assert c.post(f"/jobs/{job}/cancel", headers=h).json()["status"] == "cancelled"
    assert c.delete(f"/datasets/{ds}", headers=h).status_code == 204
    assert c.get(f"/jobs/{job}", headers=h).json()["dataset_id"] is None  # ON DELETE SET NULL
    mid = make_model("alice", tmp_path, [("a", "vector", (8,)), ("b", "vector", (6,))])
    assert c.get(f"/models/{mid}/weights", headers=h).status_code == 200
    r = c.post(f"/models/{mid}/predict", headers=h, json={"features": {"a": [[0.0] * 8],
                                                                       "b": [[0.0] * 6]}})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1
