"""A worker asked to stop (SIGTERM: docker stop, scale down, Ctrl-C of ssnas serve) hands its
running job back to the queue at the next training step instead of leaving it to the reaper.

Celery's warm shutdown runs in the main process while the job runs in a pool child (prefork) or
in the main thread (solo). The main process sets an in-process event and writes a flag file named
after its host and pid; the job's heartbeat thread checks both, and the job's callback then raises
``ShutdownRequested``: the task stores its last state, puts the job back to ``queued`` (same
attempt count) and re-sends it, so another worker resumes it from that state at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path

from ssnas_core.callbacks import StopRequested
from store.settings import get_settings

from .settings import get_worker_settings

log = logging.getLogger("ssnas.worker")

_EVENT = threading.Event()


class ShutdownRequested(StopRequested):
    """The worker is shutting down; the job goes back to the queue."""


def _flag(main_pid: int) -> Path:
    return Path(get_settings().work_dir) / "shutdown" / f"{socket.gethostname()}-{main_pid}"


def clear_flag() -> None:
    """At worker start: forget a flag left by an earlier process with the same host and pid."""
    _EVENT.clear()
    _flag(os.getpid()).unlink(missing_ok=True)


def request_shutdown(grace_s: float | None = None) -> None:
    """Called in the main process when Celery begins a warm shutdown. If the pool has not stopped
    within ``grace_s`` (a job in a long step that reports no progress; a launcher killed without
    stopping us), the pool children are killed and the process exits: the job, owned by a process
    that is gone, is taken over by the next delivery or worker start (``worker.orphans``)."""
    _EVENT.set()
    path = _flag(os.getpid())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    grace = get_worker_settings().shutdown_grace_s if grace_s is None else grace_s
    threading.Thread(target=_deadline, args=(grace,), name="ssnas-shutdown-deadline", daemon=True).start()


def _deadline(grace_s: float) -> None:
    time.sleep(grace_s)
    import psutil

    log.warning("warm shutdown still running after %.0f s: killing the pool and exiting", grace_s)
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()
    logging.shutdown()
    os._exit(1)


def shutdown_requested() -> bool:
    """True in the main process (solo pool) or a pool child once its main process is stopping."""
    return _EVENT.is_set() or _flag(os.getppid()).exists()
