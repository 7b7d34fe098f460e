"""The embedded Postgres of ``ssnas serve`` as a child process we supervise.

The binaries and ``initdb`` come from the ``pgserver`` wheel, but the postmaster runs in the
foreground as our child (not daemonised by ``pg_ctl``): a postmaster that dies is seen at once and
started again, and one whose launcher is killed gets SIGINT (fast shutdown) instead of running on.
A Postgres left on the same data folder by an earlier launcher (killed before this change, or
still shutting down) is stopped first: its postmaster and backends are the ``postgres`` processes
whose working directory is the data folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import IO

import psutil

from .processes import spawn, terminate, wait_ready

DATABASE = "ssnas"


def _system_user() -> str | None:
    """Postgres refuses to run as root: pgserver's own user then (created when missing)."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


def init_pgdata(pgdata: Path) -> str | None:
    """``initdb`` once (trust auth, utf8); returns the system user Postgres runs as."""
    from pgserver._commands import POSTGRES_BIN_PATH, initdb

    user = _system_user()
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        import pwd
        import stat

        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    if not (pgdata / "PG_VERSION").exists():
        initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
               pgdata=pgdata, user=user)
    pgdata.chmod(0o700)  # Postgres refuses a data folder others can read
    return user


def stale_processes(pgdata: Path) -> list[psutil.Process]:
    """Postgres processes (postmaster and backends) working in ``pgdata``."""
    found, target = [], str(pgdata.resolve())
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] == "postgres" and proc.cwd() == target:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def stop_stale(pgdata: Path, timeout_s: float = 5.0) -> int:
    """Stop whatever Postgres still runs on ``pgdata``: its postmaster (named in postmaster.pid)
    with a fast shutdown, then any backend left by a killed postmaster with SIGQUIT; returns how
    many processes there were."""
    procs = stale_processes(pgdata)
    if procs:
        master = _postmaster_pid(pgdata)
        terminate([p for p in procs if p.pid == master], timeout_s, signal.SIGINT)
        terminate(stale_processes(pgdata), 2.0, signal.SIGQUIT)
    return len(procs)


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def socket_dir(pgdata: Path) -> Path:
    """The data folder itself when its socket path fits, else a short runtime folder (pgserver's rule)."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import find_suitable_socket_dir

    return find_suitable_socket_dir(pgdata, PostgresServer.runtime_path)


def start(pgdata: Path, log: IO | None = None) -> tuple[subprocess.Popen, str]:
    """Start (or restart) the postmaster on ``pgdata``; returns (process, SQLAlchemy URL of ``ssnas``)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    pgdata = pgdata.resolve()
    user = init_pgdata(pgdata)
    stop_stale(pgdata)
    sock = socket_dir(pgdata)
    if user is not None and sock != pgdata:
        sock.chmod(0o777)
    cmd = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-k", str(sock), "-c", "listen_addresses="]
    proc = spawn(cmd, dict(os.environ), log, death_signal=signal.SIGINT, user=user)
    admin = f"host={sock} user=postgres dbname=postgres connect_timeout=2"
    wait_ready(lambda: _ensure_database(admin), 60, "postgres", proc)
    return proc, f"postgresql+psycopg://postgres:@/{DATABASE}?host={sock}"


def _ensure_database(admin_dsn: str) -> bool:
    """True once Postgres accepts connections and the ``ssnas`` database exists (created if not)."""
    import psycopg

    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return True
    except psycopg.OperationalError:
        return False
