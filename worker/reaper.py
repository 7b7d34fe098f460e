"""The reaper: nothing stays "running" after its worker died.

A running job whose heartbeat is older than ``heartbeat_timeout_s`` lost its worker (kill -9,
machine gone, hung loop). ``job_runtime.requeue_lost`` moves it back to ``queued`` while attempts
remain (the next worker resumes it from its database checkpoints) or to ``failed`` with the reason;
it also returns queued jobs whose doorbell may have been lost. The ids are sent to the broker only
after that transaction commits. Several reapers (one per worker, one in ``ssnas serve``) are safe:
the rows are locked with SKIP LOCKED, and ``run_job`` is idempotent per (job, attempt).

Run one pass with ``python -m worker.reaper --once``, or loop with ``python -m worker.reaper``.
"""

from __future__ import annotations

import argparse
import logging
import threading

from store import jobs as job_runtime
from store.broker import send_run_job
from store.db import after_commit, session_scope

from .settings import get_worker_settings

log = logging.getLogger("ssnas.reaper")
_thread: threading.Thread | None = None
_lock = threading.Lock()


def reap_once() -> list[tuple[str, str]]:
    """One pass: requeue or fail lost jobs, then send the requeued ids; returns (job_id, queue)."""
    with session_scope() as s:
        todo = job_runtime.requeue_lost(s)
        for job_id, queue in todo:
            after_commit(s, lambda j=job_id, q=queue: send_run_job(j, q))
    if todo:
        log.info("reaper re-sent %d job(s)", len(todo), extra={"job_id": ",".join(j for j, _ in todo)})
    return todo


def resend_at_start() -> list[tuple[str, str]]:
    """At start: send every queued job again, and every running job whose worker is gone (see
    ``worker.orphans``), so nothing queued depends on the broker having kept its message."""
    from .orphans import takeover_reason

    with session_scope() as s:
        todo = job_runtime.jobs_to_resend(s, takeover_reason)
    for job_id, queue in todo:
        send_run_job(job_id, queue)
    if todo:
        log.info("re-sent %d queued or orphaned job(s) at start", len(todo),
                 extra={"job_id": ",".join(j for j, _ in todo)})
    return todo


def reap_forever(interval_s: float, stop: threading.Event | None = None) -> None:
    """Call ``reap_once`` every ``interval_s`` until ``stop`` is set; errors are logged, not fatal."""
    stop = stop or threading.Event()
    while not stop.wait(interval_s):
        try:
            reap_once()
        except Exception:  # database or broker briefly away: try again next interval
            log.exception("reaper pass failed")


def start_reaper_thread(interval_s: float | None = None,
                        stop: threading.Event | None = None) -> threading.Thread:
    """Start the process-wide reaper daemon thread once (later calls return the same thread)."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            interval = interval_s or get_worker_settings().reaper_interval_s
            _thread = threading.Thread(target=reap_forever, args=(interval, stop),
                                       name="ssnas-reaper", daemon=True)
            _thread.start()
    return _thread


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m worker.reaper", description=__doc__.split("\n")[0])
    p.add_argument("--once", action="store_true", help="one pass, print what was re-sent, exit")
    p.add_argument("--interval", type=float, default=None, help="seconds between passes")
    args = p.parse_args(argv)
    if args.once:
        for job_id, queue in reap_once():
            print(f"re-sent {job_id} to {queue}")
        return 0
    reap_forever(args.interval or get_worker_settings().reaper_interval_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
