"""ssnas serve's building blocks with real processes: the supervisor restarts a dead child with
growing delays and stops everything; the embedded Postgres stops a stale server of its data folder
(left by a killed launcher) and comes back after kill -9."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from launcher import embedded_pg
from launcher.processes import spawn
from launcher.supervisor import Child, Supervisor


@pytest.fixture
def outside_tmp():
    """A folder outside pytest's base temp, whose mode other pytest sessions reset to 0700 when
    they start: Postgres, running as its own user when we are root, could not reach its files."""
    path = Path(tempfile.mkdtemp(prefix="ssnas-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sleeper():
    return spawn([sys.executable, "-c", "import time; time.sleep(600)"], dict(os.environ))


def _wait(check, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_supervisor_restarts_a_dead_child_with_backoff_and_stops_everything():
    logs: list[str] = []
    sup = Supervisor(first_delay_s=0.1, max_delay_s=0.4, log=logs.append)
    a, b = sup.add(Child("a", _sleeper)), sup.add(Child("b", _sleeper))
    b_pid = b.proc.pid
    delays = []
    for _ in range(4):  # dies again and again right after each start
        old = a.proc.pid
        os.kill(old, signal.SIGKILL)
        _wait(lambda: (sup.check() or True) and a.restart_at is not None)
        delays.append(round(a.restart_at - a.history[-1][0], 2))
        _wait(lambda old=old: (sup.check() or True) and a.proc.pid != old and a.restart_at is None)
        assert a.proc.poll() is None
    assert delays == [0.1, 0.2, 0.4, 0.4]
    assert a.restarts == 4 and b.restarts == 0 and b.proc.pid == b_pid and b.proc.poll() is None
    assert any("a (pid" in m and "exited with code -9; restarting in 0.1 s" in m for m in logs), logs
    pids = [a.proc.pid, b.proc.pid]
    sup.stop([["a", "b"]], {"a": 5.0, "b": 5.0})
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def _query(url: str) -> int:
    dsn = url.replace("postgresql+psycopg://postgres:@/", "dbname=").replace("?host=", " user=postgres host=")
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def test_embedded_postgres_stops_a_stale_server_and_comes_back_after_kill9(outside_tmp):
    import pgserver

    tmp_path = outside_tmp
    pgdata = tmp_path / "pg"
    stale = pgserver.get_server(pgdata, cleanup_mode=None)  # daemonised by pg_ctl, as a killed launcher left it
    stale_pid = stale.get_pid()
    assert psutil.pid_exists(stale_pid)
    log = open(tmp_path / "pg.log", "ab")
    proc, url = embedded_pg.start(pgdata, log)
    try:
        assert not psutil.pid_exists(stale_pid) and proc.poll() is None
        assert _query(url) == 1
        os.kill(proc.pid, signal.SIGKILL)  # its backends are left behind until they notice
        proc.wait(10)
        proc, url = embedded_pg.start(pgdata, log)
        assert _query(url) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    _wait(lambda: not embedded_pg.stale_processes(pgdata), 30)
