"""Jobs as the API sees them: create (enqueue after commit), list, read, cancel, retry."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import enqueue_after_commit
from ..errors import Conflict, NotFound
from ..schemas import JobCreate, JobOut, MetricOut
from ..settings import Settings
from ..tables import CANCELLED, FAILED, QUEUED, RUNNING, Job, JobLog, JobMetric, Model, utcnow
from .datasets import get_dataset
from .quotas import check_job_quota
from .specs import build_spec

log = logging.getLogger("ssnas.jobs")


def create_job(session: Session, owner_id: str, body: JobCreate, settings: Settings) -> Job:
    """Validate, record a queued job and send its id to the broker once committed."""
    get_dataset(session, owner_id, body.dataset_id, lock=True)  # 404 for others' datasets
    check_job_quota(session, owner_id, settings)
    spec, queue = build_spec(body, settings.default_queue)
    job = Job(owner_id=owner_id, dataset_id=body.dataset_id, status=QUEUED, spec=spec,
              queue=queue, max_attempts=settings.job_max_attempts)
    session.add(job)
    session.flush()
    enqueue_after_commit(session, job.id, queue)
    session.commit()
    log.info("job queued", extra={"job_id": job.id, "owner_id": owner_id, "queue": queue})
    return job


def get_job(session: Session, owner_id: str, job_id: str, lock: bool = False) -> Job:
    q = select(Job).where(Job.id == job_id, Job.owner_id == owner_id)
    job = session.scalar(q.with_for_update() if lock else q)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def job_out(session: Session, job: Job) -> JobOut:
    """The job with its latest metric row and its model id (if any)."""
    latest = session.scalar(select(JobMetric).where(JobMetric.job_id == job.id)
                            .order_by(JobMetric.seq.desc()).limit(1))
    model_id = session.scalar(select(Model.id).where(Model.job_id == job.id)
                              .order_by(Model.created_at.desc()).limit(1))
    out = JobOut.model_validate(job)
    out.latest_metrics = MetricOut.model_validate(latest) if latest is not None else None
    out.model_id = model_id
    return out


def list_jobs(session: Session, owner_id: str, status: str | None, limit: int,
              offset: int) -> tuple[list[Job], int]:
    """A page of the owner's jobs, newest first, and the total count for the filter."""
    where = [Job.owner_id == owner_id] + ([Job.status == status] if status else [])
    total = session.scalar(select(func.count()).select_from(Job).where(*where))
    rows = session.scalars(select(Job).where(*where).order_by(Job.created_at.desc(), Job.id)
                           .limit(limit).offset(offset)).all()
    return list(rows), int(total)


def metrics_after(session: Session, job: Job, after: int, limit: int) -> list[JobMetric]:
    return list(session.scalars(select(JobMetric).where(JobMetric.job_id == job.id,
                                                        JobMetric.seq > after)
                                .order_by(JobMetric.seq).limit(limit)))


def logs_after(session: Session, job: Job, after: int, limit: int) -> list[JobLog]:
    return list(session.scalars(select(JobLog).where(JobLog.job_id == job.id, JobLog.seq > after)
                                .order_by(JobLog.seq).limit(limit)))


def cancel_job(session: Session, owner_id: str, job_id: str) -> Job:
    """Queued -> cancelled now (it never starts); running -> cancel_requested (the worker stops
    at its next step). Cancelling a cancelled job is a no-op; a finished one is 409."""
    job = get_job(session, owner_id, job_id, lock=True)
    if job.status == QUEUED:
        job.status, job.finished_at = CANCELLED, utcnow()
        job.cancel_requested = True
    elif job.status == RUNNING:
        job.cancel_requested = True
    elif job.status != CANCELLED:
        raise Conflict(f"job {job_id} already {job.status}; nothing to cancel")
    session.commit()
    log.info("job cancel requested", extra={"job_id": job.id, "owner_id": owner_id})
    return job


def retry_job(session: Session, owner_id: str, job_id: str, settings: Settings) -> Job:
    """A failed or cancelled job goes back to the queue; the worker resumes from its last
    checkpoint. 409 for any other status or when its dataset was deleted."""
    job = get_job(session, owner_id, job_id, lock=True)
    if job.status not in (FAILED, CANCELLED):
        raise Conflict(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
    if job.dataset_id is None:
        raise Conflict(f"job {job_id}: its dataset was deleted; submit a new job")
    check_job_quota(session, owner_id, settings)
    job.status, job.error, job.cancel_requested = QUEUED, None, False
    job.finished_at, job.eta_s = None, None
    job.max_attempts = job.attempt + settings.job_max_attempts
    enqueue_after_commit(session, job.id, job.queue)
    session.commit()
    log.info("job requeued by retry", extra={"job_id": job.id, "owner_id": owner_id})
    return job
