"""The doorbell: the Celery app both sides share, its task name and queues; send a job id,
check the broker is reachable.

The job row, not Celery, is the truth: a message only says "look at job X". The API sends with
the same app (same transport options: key prefix, visibility timeout) that the worker consumes
with (``worker.celery_app`` builds it with the worker's task module included). Torch-free.

Why these settings (Celery user guide, "Optimizing" and "Tasks"):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only when the task
  returns, so a worker that dies mid-job leaves the message to be delivered again;
- ``worker_prefetch_multiplier = 1``: a worker holds one job at a time, the others stay in the queue
  for idle workers;
- ``visibility_timeout`` longer than the longest job: Redis otherwise redelivers a running job's
  message to a second worker while the first is still training;
- one queue per device kind (``cpu``, ``gpu``); no result backend at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

from celery import Celery

from .settings import get_settings

TASK_NAME = "ssnas.run_job"  # the worker's task (worker.tasks.run_job), sent by name
QUEUES = ("cpu", "gpu")
log = logging.getLogger("ssnas.broker")


def make_app(include: Sequence[str] = ()) -> Celery:
    """A Celery app on the configured broker (settings are read when this is called);
    ``include``: the task modules a worker imports."""
    s = get_settings()
    app = Celery("ssnas", broker=s.broker_url, include=list(include))
    transport = {"visibility_timeout": s.visibility_timeout_s}
    if s.broker_key_prefix:
        transport["global_keyprefix"] = s.broker_key_prefix
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue="cpu",
        task_queues=None,
        task_create_missing_queues=True,
        task_routes={TASK_NAME: {"queue": "cpu"}},
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_heartbeat=0,
    )
    return app


@lru_cache
def celery_app() -> Celery:
    """The sending side's app, built once from the current settings (``cache_clear()`` after
    changing them)."""
    return make_app()


def send_run_job(job_id: str, queue: str) -> None:
    """Publish ``ssnas.run_job(job_id)``; a broker outage raises (the caller undoes or the
    reaper re-sends later)."""
    s = get_settings()
    policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
              "interval_max": max(s.broker_timeout_s / 2, 0.2)}
    celery_app().send_task(TASK_NAME, args=[job_id], queue=queue, retry=True,
                           retry_policy=policy)
    log.info("enqueued", extra={"job_id": job_id, "queue": queue})


def broker_ok() -> tuple[bool, str]:
    """(reachable, message) for /health, within broker_timeout_s."""
    s = get_settings()
    try:
        with celery_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=s.broker_timeout_s)
        return True, "ok"
    except Exception as exc:  # any transport error means "not reachable"
        log.warning("health: broker unavailable (%s: %s)", type(exc).__name__, exc)
        return False, "unavailable"  # the reason goes to the log, never to the client
