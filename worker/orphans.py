"""Is the worker that owns a running job gone? Then a delivery of that job takes it over at once.

A pool child killed with ``kill -9`` leaves its job ``running`` with a heartbeat a few seconds old;
Celery redelivers the message (acks late, reject on worker lost) within a second or two. The
reaper's ``heartbeat_timeout_s`` (120 s by default) is meant for machines that vanish; a delivery
does not need to wait for it when it can see that the owner is dead:
- the owner ran on this host (the job's ``worker`` is ``host:pid``) and that process is gone; or
- the owner's heartbeat is older than ``takeover_after_s`` (two missed beats and a second), for
  owners on other hosts.
A live owner keeps beating every ``SSNAS_HEARTBEAT_INTERVAL_S``, so a duplicate message for a
job that is really running is still skipped; a live owner on this host is never taken over.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import psutil

from store.settings import get_settings
from store.tables import utcnow

from .settings import get_worker_settings


def worker_name() -> str:
    """How a job row names the process that runs it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def takeover_after_s() -> float:
    """Heartbeat age after which a delivered job's owner counts as dead (capped by the reaper's)."""
    ws = get_worker_settings()
    return min(2 * ws.heartbeat_interval_s + 1.0, get_settings().heartbeat_timeout_s)


def process_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def local_owner(worker: str | None) -> int | None:
    """The pid of ``worker`` (``host:pid``) when it ran on this host, else None."""
    host, _, pid = (worker or "").rpartition(":")
    return int(pid) if host == socket.gethostname() and pid.isdigit() else None


def takeover_reason(job) -> str | None:
    """Why a delivery may take over the running ``job`` now, or None while its owner lives. An owner
    on this host is asked directly (a live one that is slow to beat, e.g. during a database outage,
    keeps its job; one that hangs is the reaper's); one elsewhere is judged by its heartbeat."""
    pid = local_owner(job.worker)
    if pid is not None:
        return None if process_alive(pid) else f"worker {job.worker} died (its process is gone)"
    beat = job.heartbeat_at
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=utcnow().tzinfo)
    limit = takeover_after_s()
    if beat is None or beat < utcnow() - timedelta(seconds=limit):
        return f"worker {job.worker} died (no heartbeat for more than {limit:.0f} s)"
    return None
