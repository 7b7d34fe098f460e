"""Database or broker unreachable (issue 10 item 4): every route answers 503 with Retry-After and
a JSON error, never a 500 or a dropped connection, /health leaks no exception text or path, and
the API recovers by itself. Real processes: uvicorn on its own Postgres database, blocked with
ALLOW_CONNECTIONS false + pg_terminate_backend, and a broker URL on a closed port."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from api_factories import create_database, drop_database, make_features_zip, pg_url
from conftest import REDIS_URL
from live_api import live_api, start

from launcher.processes import child_env, free_port, start_redis, stop

ID = "00000000-0000-0000-0000-000000000000"
ROUTES = [("GET", "/datasets"), ("GET", f"/datasets/{ID}"), ("DELETE", f"/datasets/{ID}"),
          ("POST", "/datasets"), ("POST", "/jobs"), ("GET", "/jobs"), ("GET", f"/jobs/{ID}"),
          ("GET", f"/jobs/{ID}/metrics"), ("GET", f"/jobs/{ID}/logs"), ("POST", f"/jobs/{ID}/cancel"),
          ("POST", f"/jobs/{ID}/retry"), ("GET", f"/jobs/{ID}/genotype"), ("GET", f"/jobs/{ID}/genotype.svg"),
          ("GET", "/models"), ("GET", f"/models/{ID}"), ("GET", f"/models/{ID}/weights"),
          ("POST", f"/models/{ID}/predict")]


def _request(client: httpx.Client, method: str, path: str) -> httpx.Response:
    if path == "/datasets" and method == "POST":
        return client.post(path, files={"file": ("x.bin", b"abc")})
    if path == "/jobs" and method == "POST":
        return client.post(path, json={"dataset_id": ID})
    if path.endswith("/predict"):
        return client.post(path, json={"features": {"img": [[0.0]]}})
    return client.request(method, path)


def _admin(sql: str) -> None:
    with psycopg.connect(pg_url("test", "postgresql"), autocommit=True) as conn:
        conn.execute(sql)


def _block(name: str, allow: bool) -> None:
    _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}')
    if not allow:
        _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def _assert_503(r: httpx.Response, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert int(r.headers["retry-after"]) > 0, what
    assert r.headers["content-type"].startswith("application/json"), what
    assert "unavailable" in r.json()["detail"], what


@pytest.fixture
def own_db():
    name = create_database("ssnas_outage")
    try:
        yield name
    finally:
        _block(name, True)
        drop_database(name)


@pytest.mark.parametrize("auth_cache_s", ["0", "60"])  # the key looked up in the database, or cached
def test_database_outage_is_503_on_every_route_and_recovers(own_db, tmp_path, auth_cache_s):
    with live_api(tmp_path, pg_url(own_db), REDIS_URL, SSNAS_AUTH_CACHE_S=auth_cache_s) as (url, key):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            assert c.get("/datasets").status_code == 200  # the pools hold live connections now
            _block(own_db, False)
            for method, path in ROUTES:
                _assert_503(_request(c, method, path), f"{method} {path}")
            health = c.get("/health")
            assert health.status_code == 503 and int(health.headers["retry-after"]) > 0
            assert health.json() == {"status": "degraded", "database": "unavailable", "broker": "ok"}
            _block(own_db, True)
            deadline = time.monotonic() + 30
            while c.get("/datasets").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert c.get("/datasets").status_code == 200 and c.get("/health").status_code == 200


def test_database_never_reachable_is_503(tmp_path):
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    env = child_env({"SSNAS_DATABASE_URL": closed, "SSNAS_BROKER_URL": REDIS_URL,
                     "SSNAS_DATA_DIR": str(tmp_path / "data")})
    proc, url = start(env, tmp_path / "api.log")
    try:
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": "Bearer ssnas_abcd_efgh"}) as c:
            health = c.get("/health")
            assert health.status_code == 503 and health.json()["database"] == "unavailable"
            assert "Error" not in health.text and "/" not in health.text
            for method, path in ROUTES:
                _assert_503(_request(c, method, path), f"{method} {path}")
    finally:
        stop(proc)


def _queued_messages(port: int) -> int:
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    return sum(int(r.llen(k)) for k in r.keys("*") if r.type(k) == b"list")


def test_broker_outage_job_routes_are_503_with_nothing_left_and_recover(own_db, tmp_path):
    """A real redis-server on a spare port, killed -9 and started again on the same port: while it
    is down POST /jobs and POST /jobs/{id}/retry answer 503 and leave no row (a retried job stays
    failed), /health says the broker is unavailable, routes without the broker keep serving; once
    it is back the same requests are accepted and their doorbells are in Redis."""
    port = free_port()
    redis_dir = tmp_path / "redis"
    broker = start_redis(redis_dir, port)
    with live_api(tmp_path, pg_url(own_db), f"redis://127.0.0.1:{port}/0") as (url, key):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            zipped = make_features_zip(tmp_path)
            ds = c.post("/datasets", files={"file": (zipped.name, zipped.read_bytes())})
            assert ds.status_code == 201, ds.text
            first = c.post("/jobs", json={"dataset_id": ds.json()["id"]})
            assert first.status_code == 202, first.text
            assert _queued_messages(port) == 1
            failed_id = first.json()["id"]
            _admin_db(own_db, f"UPDATE jobs SET status = 'failed', error = 'boom', attempt = 1, "
                      f"worker = 'elsewhere:1' WHERE id = '{failed_id}'")  # as a worker leaves it

            broker.kill()
            broker.wait()
            health = c.get("/health")
            assert health.status_code == 503 and int(health.headers["retry-after"]) > 0
            assert health.json() == {"status": "degraded", "database": "ok", "broker": "unavailable"}
            for _ in range(2):  # the pooled broker connection found dead, then a refused connect
                _assert_503(c.post("/jobs", json={"dataset_id": ds.json()["id"]}), "POST /jobs")
            _assert_503(c.post(f"/jobs/{failed_id}/retry"), "POST /jobs/{id}/retry")
            jobs = c.get("/jobs").json()
            assert jobs["total"] == 1, jobs  # no row left behind by the refused submissions
            kept = c.get(f"/jobs/{failed_id}").json()
            assert (kept["status"], kept["error"]) == ("failed", "boom"), kept
            assert c.get("/datasets").status_code == 200  # no broker needed: still served

            broker = start_redis(redis_dir, port)
            deadline = time.monotonic() + 30
            while c.get("/health").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            again = c.post("/jobs", json={"dataset_id": ds.json()["id"]})
            assert again.status_code == 202, again.text
            retried = c.post(f"/jobs/{failed_id}/retry")
            assert retried.status_code == 202 and retried.json()["status"] == "queued", retried.text
            assert c.get("/jobs").json()["total"] == 2
            assert _queued_messages(port) == 3  # the first doorbell (append-only file), then two
    stop(broker)


def _admin_db(name: str, sql: str) -> None:
    with psycopg.connect(pg_url(name, "postgresql"), autocommit=True) as conn:
        conn.execute(sql)
