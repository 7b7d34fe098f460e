import pytest
from svc_fixtures import celery_worker, service_env


@pytest.fixture(scope="session")
def svc(tmp_path_factory):
    """A fresh migrated database + Redis key prefix for this test session (real services)."""
    with service_env(tmp_path_factory.mktemp("ssnas-worker")) as env:
        yield env


@pytest.fixture(scope="module")
def worker(svc, tmp_path_factory):
    """One real Celery worker process shared by a test module."""
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    log.touch()
    with celery_worker(svc, log, name="mod") as proc:
        yield proc
