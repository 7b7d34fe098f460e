"""Celery configuration for long GPU/CPU jobs. Imports no torch: the API imports this module
to send tasks, and CUDA must only be initialised inside a task, never before the pool forks.

Why these settings (Celery user guide, "Optimizing" and "Tasks"):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only when the task
  returns, so a worker that dies mid-job leaves the message to be delivered again;
- ``worker_prefetch_multiplier = 1``: a worker holds one job at a time, the others stay in the queue
  for idle workers;
- ``visibility_timeout`` longer than the longest job: Redis otherwise redelivers a running job's
  message to a second worker while the first is still training;
- one queue per device kind (``cpu``, ``gpu``); the job row, not Celery's result backend, is the truth
  (no result backend at all).
"""

from __future__ import annotations

from celery import Celery

from api.settings import get_settings

from .settings import get_worker_settings

TASK_NAME = "ssnas.run_job"
QUEUES = ("cpu", "gpu")


def make_app() -> Celery:
    """A Celery app on the configured broker (settings are read when this is called)."""
    s, ws = get_settings(), get_worker_settings()
    app = Celery("ssnas", broker=s.broker_url, include=["worker.tasks"])
    transport = {"visibility_timeout": ws.visibility_timeout_s}
    if ws.broker_key_prefix:
        transport["global_keyprefix"] = ws.broker_key_prefix
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


app = make_app()
