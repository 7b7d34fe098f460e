"""A real service for the client, CLI and dashboard tests: the API (uvicorn) and one Celery worker
as processes on a fresh Postgres database and Redis prefix (tests/worker/svc_fixtures.py)."""

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from svc_fixtures import celery_worker, make_owner, service_env  # noqa: E402


@dataclass
class Service:
    url: str
    key: str        # owner "dora"
    other_key: str  # owner "eve": must never see dora's data
    env: dict


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    from launcher.processes import free_port, start_api, stop

    with service_env(tmp_path_factory.mktemp("ssnas-client")) as svc:
        logs = tmp_path_factory.mktemp("client-logs")
        port = free_port()
        api = start_api(svc.env, "127.0.0.1", port, open(logs / "api.log", "ab"))
        (logs / "worker.log").touch()
        try:
            with celery_worker(svc, logs / "worker.log", name="client"):
                yield Service(f"http://127.0.0.1:{port}", make_owner("dora"), make_owner("eve"), svc.env)
        finally:
            stop(api)
