"""The worker's Celery app: ``store.broker``'s app with this package's task module included
(``celery -A worker.celery_app:app worker``). Imports no torch: CUDA must only be initialised
inside a task, never before the pool forks."""

from __future__ import annotations

from store.broker import QUEUES, TASK_NAME, make_app  # noqa: F401

app = make_app(include=["worker.tasks"])
