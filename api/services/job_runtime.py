"""Job-row operations for the worker: claim, heartbeat, metrics, logs, finish, requeue.

Every function takes a Session and leaves the commit to the caller (one unit of work).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..settings import get_settings
from ..tables import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    Checkpoint,
    Job,
    JobLog,
    JobMetric,
    Model,
    utcnow,
)


def finite_json(value: Any) -> Any:
    """``value`` made safe for a JSON column: NaN and infinities become None (Postgres refuses
    them, and JSON has no word for them), numpy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return finite_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _stale_before():
    return utcnow() - timedelta(seconds=get_settings().heartbeat_timeout_s)


def claim_job(session: Session, job_id: str, worker_name: str,
              takeover: Callable[[Job], str | None] | None = None) -> Job | None:
    """Take the job for this worker, or None if someone else has it or it is over.

    Claimable: queued and not cancel-requested, or running with a stale heartbeat (the task
    was redelivered after its worker died), or running where ``takeover(job)`` names a reason to
    take it over at once (the owning worker process is gone). Row locked with FOR UPDATE SKIP LOCKED
    on Postgres. A takeover is written to the job's log.
    """
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(skip_locked=True))
    if job is None or job.status in TERMINAL:
        return None
    if job.cancel_requested:
        job.status, job.finished_at = CANCELLED, utcnow()
        return None
    reason = None
    if job.status == RUNNING:
        stale = job.heartbeat_at is None or _aware(job.heartbeat_at) < _stale_before()
        reason = (f"worker {job.worker} lost (no heartbeat for more than "
                  f"{get_settings().heartbeat_timeout_s:.0f} s)") if stale else takeover and takeover(job)
        if not reason:
            return None
        if job.attempt >= job.max_attempts:  # a job that kills its worker must not loop forever
            job.status, job.finished_at = FAILED, utcnow()
            job.error = f"{reason}; giving up after {job.max_attempts} attempts"
            append_log(session, job.id, "error", f"failed: {job.error}")
            return None
    now = utcnow()
    job.status, job.worker, job.heartbeat_at = RUNNING, worker_name, now
    job.attempt += 1
    job.started_at = job.started_at or now
    job.error = None
    session.flush()
    if reason:
        append_log(session, job.id, "warning", f"{reason}: job resumed by {worker_name} (attempt {job.attempt})")
    return job


def _aware(ts):
    """SQLite returns naive datetimes; they are UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=utcnow().tzinfo)


def heartbeat(session: Session, job_id: str, stage: str | None = None,
              progress: float | None = None, eta_s: float | None = None,
              attempt: int | None = None) -> bool:
    """Record liveness (and stage/progress/ETA when given); returns True when the run must stop:
    cancel requested, or (with ``attempt``) the row is no longer running this attempt."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return True
    if attempt is not None and (job.status != RUNNING or job.attempt != attempt):
        return True  # lost ownership: the reaper requeued it and someone else claimed it
    job.heartbeat_at = utcnow()
    if stage is not None:
        job.stage = stage
    if progress is not None and math.isfinite(progress):
        job.progress = float(min(max(progress, 0.0), 1.0))
    if eta_s is not None:  # a non-finite ETA is unknown (JSON responses cannot carry NaN)
        job.eta_s = float(eta_s) if math.isfinite(eta_s) else None
    session.flush()
    return bool(job.cancel_requested)


def append_metric(session: Session, job_id: str, stage: str, epoch: int,
                  metrics: dict[str, Any]) -> int:
    """Add one metric row with the next seq for this job (NaN/inf stored as null); returns the seq."""
    seq = 1 + session.scalar(select(func.coalesce(func.max(JobMetric.seq), 0))
                             .where(JobMetric.job_id == job_id))
    session.add(JobMetric(job_id=job_id, seq=seq, stage=stage, epoch=int(epoch),
                          metrics=finite_json(dict(metrics))))
    session.flush()
    return seq


def append_log(session: Session, job_id: str, level: str, message: str) -> int:
    seq = 1 + session.scalar(select(func.coalesce(func.max(JobLog.seq), 0))
                             .where(JobLog.job_id == job_id))
    session.add(JobLog(job_id=job_id, seq=seq, level=level, message=message[:10000]))
    session.flush()
    return seq


def finish_job(session: Session, job_id: str, status: str, error: str | None = None,
               result: dict[str, Any] | None = None) -> Job:
    """Move the job to succeeded, failed or cancelled (progress 1 on success)."""
    if status not in TERMINAL:
        raise ValueError(f"finish_job: status must be one of {TERMINAL}, got {status!r}")
    job = session.get(Job, job_id, populate_existing=True)
    job.status, job.finished_at, job.eta_s = status, utcnow(), None
    job.error = error
    if result is not None:
        job.result = finite_json(result)
    if status == SUCCEEDED:  # a finished job shows stage "done", not the last stage it ran
        job.progress, job.error, job.stage = 1.0, None, "done"
    session.flush()
    return job


def create_model(session: Session, job: Job, genotype: dict, metrics: dict,
                 label_names: list, threshold: float, checkpoint_id: str,
                 node_specs: list, backbones: dict | None) -> Model:
    model = Model(owner_id=job.owner_id, job_id=job.id, genotype=finite_json(genotype), metrics=finite_json(metrics),
                  label_names=list(label_names), threshold=float(threshold),
                  checkpoint_id=checkpoint_id, node_specs=list(node_specs), backbones=backbones)
    session.add(model)
    session.flush()
    return model


def latest_checkpoint(session: Session, job_id: str, kind: str) -> Checkpoint | None:
    """The newest complete checkpoint of this kind for the job (for resume)."""
    return session.scalar(select(Checkpoint).where(
        Checkpoint.job_id == job_id, Checkpoint.kind == kind, Checkpoint.complete.is_(True))
        .order_by(Checkpoint.created_at.desc()).limit(1))


def requeue_lost(session: Session) -> list[tuple[str, str]]:
    """Running jobs whose heartbeat stopped go back to the queue (or fail after max_attempts);
    queued jobs older than the timeout are re-sent too. Returns (job_id, queue) to enqueue."""
    stale = _stale_before()
    out: list[tuple[str, str]] = []
    lost = session.scalars(select(Job).where(
        Job.status == RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale))
        .with_for_update(skip_locked=True)).all()
    for job in lost:
        if job.cancel_requested:
            job.status, job.finished_at = CANCELLED, utcnow()
        elif job.attempt >= job.max_attempts:
            job.status, job.finished_at = FAILED, utcnow()
            job.error = (f"worker lost {job.attempt} time(s) (heartbeat stopped for more than "
                         f"{get_settings().heartbeat_timeout_s:.0f} s); giving up after "
                         f"{job.max_attempts} attempts")
        else:
            job.status, job.worker = QUEUED, None
            out.append((job.id, job.queue))
    waiting = session.scalars(select(Job).where(
        Job.status == QUEUED, Job.updated_at < stale)).all()
    for job in waiting:
        job.updated_at = utcnow()  # re-sent at most once per timeout
        out.append((job.id, job.queue))
    session.flush()
    return list(dict.fromkeys(out))


def jobs_to_resend(session: Session, takeover: Callable[[Job], str | None]) -> list[tuple[str, str]]:
    """At a worker's (or ``ssnas serve``'s) start: every queued job, and every running job that
    ``takeover`` says was orphaned, as (job_id, queue) to send again. The row is the truth, not
    the broker: a message lost with Redis (or never sent while it was down) is sent again here;
    duplicates are harmless, as a claim succeeds once per attempt."""
    rows = session.scalars(select(Job).where(Job.status.in_((QUEUED, RUNNING)))
                           .order_by(Job.created_at)).all()
    out = []
    for job in rows:
        if job.status == QUEUED or takeover(job):
            out.append((job.id, job.queue))
    return out
