"""Jobs as the API sees them: create (enqueue after commit), list, read, cancel, retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from store import jobs
from store.broker import send_run_job
from store.quotas import check_job_quota, check_storage
from store.settings import Settings
from store.tables import CANCELLED, FAILED, QUEUED, Job, JobLog, JobMetric, Model

from ..errors import Invalid, NotFound
from ..outages import broker_errors
from ..schemas import JobCreate, JobOut, JobPage, LogOut, LogPage, MetricOut, MetricPage
from .datasets import get_dataset
from .owned import get_owned
from .specs import build_spec

log = logging.getLogger("ssnas.jobs")


def create_job(session: Session, owner_id: str, body: JobCreate, settings: Settings) -> JobOut:
    """Validate, record a queued job and send its id to the broker once committed."""
    dataset = get_dataset(session, owner_id, body.dataset_id, lock=True)  # 404 for others' datasets
    check_job_quota(session, owner_id, settings)
    check_storage(session, owner_id)
    spec, queue = build_spec(body, settings)
    have = (dataset.summary or {}).get("modalities")
    if body.modality is not None and isinstance(have, list) and have and body.modality not in have:
        raise Invalid(f"modality {body.modality!r} is not in dataset {dataset.id}: it has {sorted(have)}")
    job = jobs.create(session, owner_id, body.dataset_id, spec.to_row(), queue, settings)
    session.commit()
    _send_or_undo(session, job.id, queue, 0, _undo_create)
    log.info("job queued", extra={"job_id": job.id, "owner_id": owner_id, "queue": queue})
    return job_out(session, job)


def _send_or_undo(session: Session, job_id: str, queue: str, attempt: int,
                  undo: Callable[[Session, Job], None]) -> None:
    """Send the committed job's doorbell; if the broker cannot take it, undo the request's change
    (while the row is still queued and unclaimed: still at ``attempt``) and re-raise, so the client gets a 503 and
    nothing half-written stays behind. Only if the undo itself cannot reach the database does the
    row stay queued: the reaper (and every worker or ``ssnas serve`` start) re-sends queued rows,
    so such a job still runs (the row is the truth, not the broker)."""
    try:
        send_run_job(job_id, queue)
    except broker_errors():
        try:
            session.rollback()
            job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
            if job is not None and job.status == QUEUED and job.attempt == attempt:
                undo(session, job)
                session.commit()
                log.warning("broker unavailable: the request was undone", extra={"job_id": job_id})
        except sa_exc.SQLAlchemyError as exc:  # database away too: the reaper sends the row later
            log.warning("broker unavailable and the undo failed (%s): the row stays queued for the "
                        "reaper", type(exc).__name__, extra={"job_id": job_id})
        raise


def _undo_create(session: Session, job: Job) -> None:
    session.delete(job)


def get_job(session: Session, owner_id: str, job_id: str, lock: bool = False) -> Job:
    return get_owned(session, Job, owner_id, job_id, "job", lock)


def _with_latest():
    """The job, its newest metric row and its newest model id, in one round trip."""
    latest_seq = (select(func.max(JobMetric.seq)).where(JobMetric.job_id == Job.id)
                  .correlate(Job).scalar_subquery())
    model_id = (select(Model.id).where(Model.job_id == Job.id).order_by(Model.created_at.desc())
                .limit(1).correlate(Job).scalar_subquery())
    return (select(Job, JobMetric, model_id.label("model_id"))
            .outerjoin(JobMetric, and_(JobMetric.job_id == Job.id, JobMetric.seq == latest_seq)))


@lru_cache(maxsize=1)
def _job_with_latest():
    """``_with_latest`` for one job (built once; building it per request cost a third of the
    CPU of GET /jobs/{id})."""
    return _with_latest().where(Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id"))


def _out(job: Job, metric: JobMetric | None, model_id: str | None) -> JobOut:
    out = JobOut.model_validate(job)
    out.latest_metrics = MetricOut.model_validate(metric) if metric is not None else None
    out.model_id = model_id
    if out.result is not None:
        out.warnings = list(out.result.warnings)
    return out


def read_job(session: Session, owner_id: str, job_id: str) -> JobOut:
    """The job with its latest metric row, its model id and result (if any); 404 for others' jobs."""
    row = session.execute(_job_with_latest(), {"job_id": job_id, "owner_id": owner_id}).first()
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return _out(*row)


def job_out(session: Session, job: Job) -> JobOut:
    return read_job(session, job.owner_id, job.id)


def list_jobs(session: Session, owner_id: str, status: str | None, limit: int,
              offset: int) -> JobPage:
    """A page of the owner's jobs, newest first (each with its latest metrics, model id and
    result, as GET /jobs/{id}), and the total count for the filter."""
    where = [Job.owner_id == owner_id] + ([Job.status == status] if status else [])
    total = session.scalar(select(func.count()).select_from(Job).where(*where))
    rows = session.execute(_with_latest().where(*where).order_by(Job.created_at.desc(), Job.id)
                           .limit(limit).offset(offset)).all()
    return JobPage(items=[_out(*row) for row in rows], total=int(total), limit=limit, offset=offset)


def metrics_page(session: Session, owner_id: str, job_id: str, after: int,
                 limit: int) -> MetricPage:
    """Metric rows with seq > after, oldest first."""
    job = get_job(session, owner_id, job_id)
    rows = session.scalars(select(JobMetric).where(JobMetric.job_id == job.id, JobMetric.seq > after)
                           .order_by(JobMetric.seq).limit(limit)).all()
    return MetricPage(items=[MetricOut.model_validate(r) for r in rows],
                      next_after=rows[-1].seq if rows else after)


def logs_page(session: Session, owner_id: str, job_id: str, after: int, limit: int) -> LogPage:
    """Log rows with seq > after, oldest first."""
    job = get_job(session, owner_id, job_id)
    rows = session.scalars(select(JobLog).where(JobLog.job_id == job.id, JobLog.seq > after)
                           .order_by(JobLog.seq).limit(limit)).all()
    return LogPage(items=[LogOut.model_validate(r) for r in rows],
                   next_after=rows[-1].seq if rows else after)


def cancel_job(session: Session, owner_id: str, job_id: str) -> JobOut:
    """Queued -> cancelled now (it never starts); running -> cancel_requested (the worker stops
    at its next step). Cancelling a cancelled job is a no-op; a finished one is 409."""
    job = get_job(session, owner_id, job_id, lock=True)
    jobs.cancel(session, job)
    session.commit()
    log.info("job cancel requested", extra={"job_id": job.id, "owner_id": owner_id})
    return job_out(session, job)


def retry_job(session: Session, owner_id: str, job_id: str, settings: Settings) -> JobOut:
    """A failed or cancelled job goes back to the queue; the worker resumes from its last
    checkpoint. 409 for any other status or when its dataset was deleted."""
    job = get_job(session, owner_id, job_id, lock=True)
    if job.status in (FAILED, CANCELLED) and job.dataset_id is not None:  # else 409 from jobs.retry
        check_job_quota(session, owner_id, settings)
        check_storage(session, owner_id, "a retry")
    attempt = job.attempt
    undo = jobs.retry(session, job, settings)
    session.commit()
    _send_or_undo(session, job.id, job.queue, attempt, lambda _s, row: undo(row))
    log.info("job requeued by retry", extra={"job_id": job.id, "owner_id": owner_id})
    return job_out(session, job)
