"""The API as a real uvicorn process on its own migrated Postgres database (for tests that need
real concurrency or a database they can take away)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx

from launcher.processes import child_env, free_port, spawn, stop, wait_for

REPO = Path(__file__).resolve().parents[2]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=10).status_code in (200, 503)
    except httpx.TransportError:
        return False


def start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = spawn([sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory", "--port", str(port),
                  "--log-level", "warning"], env, open(log, "ab"))
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/health"), 180, "the API", proc)
    except (TimeoutError, RuntimeError) as exc:
        stop(proc)
        raise RuntimeError(f"{exc}; its log ends with: {log.read_text()[-3000:]}") from exc
    return proc, f"http://127.0.0.1:{port}"


@contextmanager
def live_api(tmp_path: Path, database_url: str, broker_url: str, **extra: str):
    """uvicorn on ``database_url`` (migrated here) with one API key; yields (base url, key)."""
    from api.cli import migrate

    migrate(database_url)
    env = child_env({"SSNAS_DATABASE_URL": database_url, "SSNAS_BROKER_URL": broker_url,
                     "SSNAS_DATA_DIR": str(tmp_path / "data"), "SSNAS_BROKER_TIMEOUT_S": "1", **extra})
    out = subprocess.run([sys.executable, "-m", "api", "keys", "create", "--owner", "olga"], env=env,
                         capture_output=True, text=True, check=True, cwd=str(REPO))
    proc, url = start(env, tmp_path / "api.log")
    try:
        yield url, out.stdout.strip()
    finally:
        stop(proc)
