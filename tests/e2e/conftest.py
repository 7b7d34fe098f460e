import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "worker"))

from svc_fixtures import celery_worker, make_owner, service_env  # noqa: E402


@dataclass
class Stack:
    url: str
    client: httpx.Client  # authenticated


@pytest.fixture(scope="session")
def svc(tmp_path_factory):
    with service_env(tmp_path_factory.mktemp("ssnas-e2e")) as env:
        yield env


@pytest.fixture(scope="module")
def stack(svc, tmp_path_factory):
    """The API (uvicorn) and one Celery worker as real processes on the test database/broker."""
    from launcher.processes import free_port, start_api, stop

    logs = tmp_path_factory.mktemp("e2e-logs")
    port = free_port()
    api = start_api(svc.env, "127.0.0.1", port, open(logs / "api.log", "ab"))
    (logs / "worker.log").touch()
    try:
        with celery_worker(svc, logs / "worker.log", name="e2e"):
            key = make_owner("carol")
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                              timeout=60) as client:
                yield Stack(url, client)
    finally:
        stop(api)
