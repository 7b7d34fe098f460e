"""Fault injection against a running ``ssnas serve`` (used by bench/reliability.py and
tests/e2e/test_e2e_faults.py): kill -9 one of its children while a job runs and clients poll,
then time how long until the child is back and the job makes progress again, and count the
answers the clients got meanwhile.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
ROLES = ("api", "worker", "pool", "redis", "postgres")


def role_pids(serve_pid: int) -> dict[str, int]:
    """pid of each supervised process of ``ssnas serve`` (pool: the worker's pool child)."""
    out: dict[str, int] = {}
    for child in psutil.Process(serve_pid).children():
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "uvicorn" in cmd:
            out["api"] = child.pid
        elif "celery" in cmd:
            out["worker"] = child.pid
            pool = [p for p in child.children() if p.status() != psutil.STATUS_ZOMBIE]
            if pool:
                out["pool"] = pool[0].pid
        elif "redis-server" in cmd:
            out["redis"] = child.pid
        elif "postgres" in cmd:
            out["postgres"] = child.pid
    return out


class Traffic(threading.Thread):
    """Clients polling the job, listings and /health; every answer is counted by status (or by
    the transport error) with the time it was received."""

    def __init__(self, base_url: str, key: str, job_id: str, every_s: float = 0.05):
        super().__init__(daemon=True, name="traffic")
        self.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        self.paths = [f"/jobs/{job_id}", "/jobs?limit=5", "/datasets?limit=5", f"/jobs/{job_id}/metrics",
                      "/health"]
        self.every_s, self.events, self.bad = every_s, [], []
        self._halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self._halt.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                r = self.client.get(path)
                outcome = r.status_code
                if r.status_code >= 500 and r.status_code != 503:
                    self.bad.append((path, r.status_code, r.text[:300]))
            except httpx.TimeoutException:
                outcome = "timeout"
            except httpx.TransportError:
                outcome = "connection_error"
            self.events.append((time.monotonic(), outcome))
            self._halt.wait(self.every_s)

    def between(self, t0: float, t1: float) -> dict[str, int]:
        return dict(sorted(Counter(str(o) for t, o in self.events if t0 <= t <= t1).items()))

    def stop(self) -> None:
        self._halt.set()
        self.join(15)
        self.client.close()


def job(client: httpx.Client, job_id: str) -> dict | None:
    try:
        r = client.get(f"/jobs/{job_id}")
        return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


def kill_and_measure(serve_pid: int, client: httpx.Client, job_id: str, role: str, traffic: Traffic,
                     timeout_s: float = 300) -> dict:
    """kill -9 ``role``; returns seconds until it runs again (``back_s``), until the job runs again
    (``job_running_s``: claimed by a new attempt after a worker death, else a heartbeat after the
    kill), until it records a new metrics row (``job_progress_s``), and the answers meanwhile."""
    before = role_pids(serve_pid)
    j = job(client, job_id)
    seq0, attempt0, status0 = (j.get("latest_metrics") or {}).get("seq", 0), j["attempt"], j["status"]
    wall0, t0 = time.time(), time.monotonic()
    os.kill(before[role], signal.SIGKILL)
    back = running = progress = None
    while time.monotonic() - t0 < timeout_s and (back is None or progress is None):
        now = role_pids(serve_pid)
        if back is None and now.get(role) not in (None, before[role]) and _serving(role, client):
            back = time.monotonic() - t0
        j = job(client, job_id)
        # running again: claimed anew after a worker death, else beating again after the outage
        if running is None and j is not None and (j["status"] != "running" or (
                _ts(j["heartbeat_at"]) > wall0 and (j["attempt"] > attempt0 or role not in ("pool", "worker")))):
            running = time.monotonic() - t0
        # progress of the job as recovered: after a worker death, by the new attempt (the killed
        # worker's orphaned pool child can write one more row before it notices and exits)
        if progress is None and running is not None and j is not None and (j["status"] != "running" or (
                _ts(j["heartbeat_at"]) > wall0 and (j.get("latest_metrics") or {}).get("seq", 0) > seq0)):
            progress = time.monotonic() - t0
        time.sleep(0.1)
    t1 = time.monotonic()
    j = job(client, job_id) or {}
    return {"role": role, "killed_pid": before[role], "job_status_before": status0,
            "back_s": _round(back), "job_running_s": _round(running),
            "job_progress_s": _round(progress),
            "recovery_s": _round(max(back, progress) if back is not None and progress is not None else None),
            "job_status_after": j.get("status"), "job_attempt_after": j.get("attempt"),
            "requests": traffic.between(t0, t1)}


def _serving(role: str, client: httpx.Client) -> bool:
    if role != "api":
        return True
    try:
        return client.get("/health").status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def start_serve(data_dir: Path, port: int, out: Path, extra_env: dict[str, str] | None = None):
    """``python -m launcher.serve`` on ``data_dir`` (kept between starts); returns (process, key)."""
    sys.path.insert(0, str(REPO))
    from launcher.processes import spawn, wait_for

    env = {k: v for k, v in os.environ.items() if not k.startswith("SSNAS_")}
    env.update({"PYTHONPATH": str(REPO), **(extra_env or {})})
    start = out.stat().st_size if out.exists() else 0
    proc = spawn([sys.executable, "-m", "launcher.serve", "--data-dir", str(data_dir), "--port", str(port)],
                 env, open(out, "ab"))
    wait_for(lambda: b"ssnas serve: ready" in out.read_bytes()[start:], 300, "ssnas serve", proc)
    return proc, (data_dir / "api_key").read_text().strip()


def leftovers(data_dir: Path, pids: list[int]) -> list[str]:
    """Processes still running among ``pids`` or working on ``data_dir``'s Postgres."""
    left = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(p.cmdline())[:120])
        except psutil.Error:
            pass
    pg = str((data_dir / "pg").resolve())
    for p in psutil.process_iter(["name"]):
        try:
            if p.info["name"] == "postgres" and p.cwd() == pg and p.pid not in pids:
                left.append(" ".join(p.cmdline())[:120])
        except psutil.Error:
            pass
    return left
