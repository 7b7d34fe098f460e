"""Real services for worker and end-to-end tests: a fresh Postgres database, an isolated Redis
key prefix, and Celery worker / API processes started as subprocesses.

The Postgres and Redis of the machine are used (127.0.0.1:5432 database ``test`` as the admin
connection, 127.0.0.1:6379); SSNAS_TEST_PG / SSNAS_TEST_REDIS point elsewhere. If they are not
reachable the tests fail with that message; they never skip.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core"))  # factories.make_features

PG_ADMIN = os.environ.get("SSNAS_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=test")
REDIS_URL = os.environ.get("SSNAS_TEST_REDIS", "redis://127.0.0.1:6379/0")

# small timeouts so lost workers are noticed within seconds (generous for a busy 2-core machine)
FAST = {"SSNAS_HEARTBEAT_TIMEOUT_S": "6", "SSNAS_HEARTBEAT_INTERVAL_S": "0.5",
        "SSNAS_REAPER_INTERVAL_S": "1", "SSNAS_WORKER_THREADS": "1",
        "SSNAS_PROGRESS_MIN_INTERVAL_S": "0.2", "SSNAS_LOG_JSON": "false"}

TINY_RUN = {"space": {"C": 8, "L": 4}, "search": {"epochs": 2, "batch_size": 32},
            "pretrain": {"epochs": 1, "batch_size": 32},
            "finetune": {"epochs": 3, "label_fraction": 0.5, "batch_size": 16, "min_dev_samples": 24},
            "seed": 7, "device": "cpu", "num_threads": 1}


@dataclass
class ServiceEnv:
    database_url: str
    prefix: str
    data_dir: Path
    env: dict[str, str]  # for child processes


def _pg_params() -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in PG_ADMIN.split())


def _reset_caches() -> None:
    from store.db import reset_engines
    from store.settings import get_settings
    from worker.settings import get_worker_settings

    get_settings.cache_clear()
    get_worker_settings.cache_clear()
    reset_engines()


@contextlib.contextmanager
def service_env(data_dir: Path) -> Iterator[ServiceEnv]:
    """A new database (migrated to head) and Redis prefix, set in os.environ for the block."""
    from launcher.processes import child_env
    from launcher.serve import migrate

    name = f"ssnas_wt_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except (psycopg.OperationalError, redis.RedisError) as exc:
        raise RuntimeError(f"tests need Postgres ({PG_ADMIN}) and Redis ({REDIS_URL}): {exc}") from exc
    admin.execute(f'CREATE DATABASE "{name}"')
    p = _pg_params()
    url = f"postgresql+psycopg://{p.get('user', 'postgres')}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{name}"
    prefix = f"ssnas-test-{uuid.uuid4().hex[:8]}:"
    env = {"SSNAS_DATABASE_URL": url, "SSNAS_BROKER_URL": REDIS_URL, "SSNAS_BROKER_KEY_PREFIX": prefix,
           "SSNAS_DATA_DIR": str(data_dir), **FAST}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_caches()
    try:
        migrate(url)
        yield ServiceEnv(url, prefix, data_dir, child_env(env))
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        _reset_caches()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        r = redis.Redis.from_url(REDIS_URL)
        for key in r.scan_iter(match=f"{prefix}*", count=500):
            r.delete(key)


@contextlib.contextmanager
def celery_worker(svc: ServiceEnv, log_path: Path, name: str = "w1", pool: str = "solo",
                  **env: str) -> Iterator[Any]:
    """A real Celery worker process (one job at a time; ``env`` overrides settings), ready when yielded."""
    from launcher.processes import start_worker, stop, wait_for

    log = open(log_path, "ab")
    start = log_path.stat().st_size
    proc = start_worker({**svc.env, **env}, "cpu,gpu", name=name, pool=pool, concurrency=1, log=log)
    try:
        wait_for(lambda: b" ready." in log_path.read_bytes()[start:], 240, f"celery worker {name}", proc)
        yield proc
    finally:
        stop(proc, timeout_s=10)
        log.close()


def make_owner(owner: str = "alice") -> str:
    """A new API key for ``owner``; returns the plaintext key."""
    from api.auth import create_key
    from store.db import session_scope

    with session_scope() as s:
        return create_key(s, owner, "test")[1]


def register_dataset_files(src: Path, dataset_id: str, sub: str = "data") -> str:
    """A copy of ``src`` (file or folder) in the dataset's storage folder, as the API stores an
    upload; returns its storage key."""
    import shutil

    from store.storage import dataset_dir, to_key

    dest = dataset_dir(dataset_id) / sub / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest) if src.is_dir() else shutil.copy2(src, dest)
    return to_key(dest)


def make_feature_dataset(owner: str, folder: Path, n: int = 200, seed: int = 0) -> str:
    """A generated feature-format dataset (written to ``folder``, stored like an upload) registered
    as a Dataset row; returns its id."""
    from factories import make_features

    from store.db import session_scope
    from store.tables import Dataset, new_id

    ds = make_features(folder, n=n, seed=seed)
    ds_id = new_id()
    key = register_dataset_files(folder, ds_id)
    with session_scope() as s:
        row = Dataset(id=ds_id, owner_id=owner, name=folder.name, format="features", path=key,
                      size=sum(f.stat().st_size for f in folder.iterdir()), sha256=uuid.uuid4().hex * 2,
                      summary={"format": "features", "num_samples": len(ds)})
        s.add(row)
        s.flush()
        return row.id


def job_spec(dataset_id: str, **run_overrides: Any) -> dict[str, Any]:
    run = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY_RUN.items()}
    for section, values in run_overrides.items():
        run[section] = {**run[section], **values} if isinstance(values, dict) else values
    return {"dataset_id": dataset_id, "method": "ssl", "backbones": None, "device": "cpu", "run": run}


def make_job(owner: str, dataset_id: str, spec: dict[str, Any], **fields: Any) -> str:
    from store.db import session_scope
    from store.tables import Job

    with session_scope() as s:
        job = Job(owner_id=owner, dataset_id=dataset_id, spec=spec, queue="cpu", **fields)
        s.add(job)
        s.flush()
        return job.id


def send(job_id: str, queue: str = "cpu") -> None:
    """Ring the doorbell with an app built from the current settings (this test's prefix)."""
    from worker.celery_app import TASK_NAME, make_app

    app = make_app()
    app.send_task(TASK_NAME, args=[job_id], queue=queue)
    app.close()


def job_row(job_id: str) -> Any:
    from store.db import session_scope
    from store.tables import Job

    with session_scope() as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def wait_job(job_id: str, until: Callable[[Any], bool], timeout_s: float = 120, poll_s: float = 0.1) -> Any:
    """Poll the job row until ``until(row)``; fails with the row's state on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = job_row(job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stuck: status={job.status} stage={job.stage} "
                                 f"attempt={job.attempt} error={job.error}")
        time.sleep(poll_s)


def terminal(job: Any) -> bool:
    return job.status in ("succeeded", "failed", "cancelled")
