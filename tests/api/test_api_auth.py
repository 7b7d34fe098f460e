"""API keys: Bearer required everywhere but /health and the docs; stored hashed; CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from store.db import session_scope
from store.tables import ApiKey

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/datasets", "/jobs", "/jobs/x", "/models", "/models/x"])
def test_routes_need_a_key(client, path):
    r = client.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "API key" in r.json()["detail"]


def test_bad_scheme_unknown_and_revoked_keys(client, alice):
    key = alice["Authorization"].split()[1]
    assert client.get("/jobs", headers={"Authorization": f"Basic {key}"}).status_code == 401
    assert client.get("/jobs", headers={"Authorization": "Bearer ssnas_0000_nope"}).status_code == 401
    assert client.get("/jobs", headers=alice).status_code == 200
    from api.auth import revoke_key

    with session_scope() as s:
        assert revoke_key(s, key.split("_")[1]) == 1
    r = client.get("/jobs", headers=alice)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_keys_are_stored_hashed(alice):
    key = alice["Authorization"].split()[1]
    with session_scope() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.owner_id == "alice"))
    stored = " ".join(str(v) for v in (row.key_hash, row.prefix, row.name, row.id))
    assert key not in stored and key.split("_", 2)[2] not in stored and len(row.key_hash) == 64


def test_health_and_docs_are_open(client):
    r = client.get("/health")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/models/{model_id}/predict" in paths and "/jobs/{job_id}/genotype.svg" in paths


def test_health_reports_a_dead_broker(client, settings_env):
    from store import broker

    settings_env(SSNAS_BROKER_URL="redis://127.0.0.1:1/0", SSNAS_BROKER_TIMEOUT_S="0.5")
    broker.celery_app.cache_clear()
    try:
        r = client.get("/health")
    finally:
        broker.celery_app.cache_clear()
    assert r.status_code == 503 and r.json()["database"] == "ok"
    assert r.json()["status"] == "degraded" and r.json()["broker"] != "ok"


def test_request_id_is_echoed(client):
    r = client.get("/health", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"
    assert len(client.get("/health").headers["x-request-id"]) == 32


def test_cli_creates_a_working_key(client, db):
    env = {**os.environ, "SSNAS_DATABASE_URL": db}
    out = subprocess.run([sys.executable, "-m", "api", "keys", "create", "--owner", "carol"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    key = out.stdout.strip()
    assert key.startswith("ssnas_")
    assert client.get("/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    listed = subprocess.run([sys.executable, "-m", "api", "keys", "list", "--owner", "carol"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "carol" in listed.stdout and key not in listed.stdout


def test_access_log_is_json_with_request_id(client, alice):
    import io
    import json
    import logging

    from api.logs import JsonFormatter

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("ssnas.access").addHandler(handler)
    try:
        client.get("/jobs", headers={**alice, "X-Request-ID": "rid-42"})
    finally:
        logging.getLogger("ssnas.access").removeHandler(handler)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    access = [x for x in lines if x.get("request_id") == "rid-42"]
    assert access and access[0]["status"] == 200 and access[0]["path"] == "/jobs"
    assert access[0]["logger"] == "ssnas.access" and isinstance(access[0]["duration_ms"], float)
