"""The doorbell: send job ids to Celery by task name, and check the broker is reachable.

The API never imports torch: it uses the worker's Celery app object when it can be imported
(``worker.celery_app.make_app``, torch-free by contract), else a bare Celery app on the same broker.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from .settings import get_settings

TASK_NAME = "ssnas.run_job"
log = logging.getLogger("ssnas.broker")


@lru_cache
def celery_app() -> Celery:
    """The worker's Celery app (built now, from the current settings) or a bare one."""
    try:
        from worker.celery_app import make_app  # type: ignore[import-not-found]

        return make_app()
    except ImportError:
        s = get_settings()
        return Celery("ssnas-api", broker=s.broker_url)


def send_run_job(job_id: str, queue: str) -> None:
    """Publish ``ssnas.run_job(job_id)``; a broker outage is logged, the reaper re-sends later."""
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
